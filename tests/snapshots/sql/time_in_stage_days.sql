-- params: ['SMB', 'Mid-Market', 'Enterprise', datetime.date(2026, 7, 1), datetime.date(2026, 10, 1)]
WITH
reps_d AS (
SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager, min(hire_date) AS hire_date, min(region) AS region
FROM reps r
WHERE TRUE
GROUP BY owner
),
seg_bounds AS (
SELECT coalesce(max(TRY_CAST(json_extract_string(value, '$.mid_market_min') AS DOUBLE)), 100.0) AS mid_min,
       coalesce(max(TRY_CAST(json_extract_string(value, '$.enterprise_min') AS DOUBLE)), 1000.0) AS ent_min
FROM _meta
WHERE key = 'segment_thresholds'
),
acc_id AS (
SELECT account_id, min(industry) AS industry, min(segment) AS segment, min(region) AS region,
       min(employees) AS employees
FROM accounts a
WHERE TRUE AND account_id IS NOT NULL
GROUP BY account_id
),
acc_name AS (
SELECT lower(trim(account_name)) AS name_key, min(industry) AS industry, min(segment) AS segment, min(region) AS region,
       min(employees) AS employees
FROM accounts a
WHERE TRUE AND account_name IS NOT NULL
GROUP BY name_key
),
opp_all AS NOT MATERIALIZED (
SELECT o.opportunity_id, o.opportunity_name, o.owner, r.team,
       coalesce(o.segment, a.segment, CASE WHEN a.employees IS NULL THEN NULL
            WHEN a.employees >= b.ent_min THEN $3
            WHEN a.employees >= b.mid_min THEN $2
            ELSE $1 END, r.segment) AS segment,
       CASE WHEN o.segment IS NOT NULL THEN 'deal' WHEN a.segment IS NOT NULL THEN 'account'
            WHEN a.employees IS NOT NULL THEN 'account_employees'
            WHEN r.segment IS NOT NULL THEN 'rep' END AS segment_source,
       r.segment AS rep_segment, r.role, r.manager,
       coalesce(o.region, r.region, a.region) AS region,
       CASE WHEN o.region IS NOT NULL THEN 'deal' WHEN r.region IS NOT NULL THEN 'rep'
            WHEN a.region IS NOT NULL THEN 'account' END AS region_source,
       a.industry, CASE WHEN a.industry IS NOT NULL THEN 'account' END AS industry_source,
       o.lead_source, o.opportunity_type, o.product, o.stage,
       coalesce(o.stage_canonical, 'opportunity') AS stage_canonical, o.stage_order, o.amount,
       o.created_date, o.close_date, coalesce(o.is_closed, false) AS is_closed,
       coalesce(o.is_won, false) AS is_won, o.probability, o.stage_probability
FROM opportunities o
LEFT JOIN reps_d r ON r.owner = o.owner
LEFT JOIN acc_id ai ON ai.account_id = o.account_id
LEFT JOIN acc_name an ON ai.account_id IS NULL AND an.name_key = lower(trim(o.account_name))
CROSS JOIN seg_bounds b
CROSS JOIN LATERAL (
    SELECT coalesce(ai.industry, an.industry) AS industry,
           coalesce(ai.segment, an.segment) AS segment,
           coalesce(ai.region, an.region) AS region,
           coalesce(ai.employees, an.employees) AS employees
) a
WHERE TRUE
),
opp AS (
SELECT * FROM opp_all
WHERE "segment" IN ($1)
),
hist AS NOT MATERIALIZED (
SELECT h.opportunity_id, h.stage, coalesce(h.stage_canonical, 'opportunity') AS stage_canonical,
       h.stage_order, h.entered_at, h.amount, h.probability, h.stage_probability
FROM stage_history h
WHERE TRUE AND h.entered_at IS NOT NULL
),
hist_p AS (
SELECT *
FROM hist
WHERE opportunity_id IN (SELECT opportunity_id FROM hist WHERE entered_at >= $4 AND entered_at < $5)
),
hist_runs AS (
SELECT opportunity_id, stage_canonical, stage_order, entered_at,
       lag(stage_canonical) OVER w AS prev_stage
FROM hist_p
WINDOW w AS (PARTITION BY opportunity_id ORDER BY entered_at, stage_order)
),
hist_visits AS (
SELECT *, lead(entered_at) OVER (PARTITION BY opportunity_id ORDER BY entered_at, stage_order) AS next_at
FROM hist_runs
WHERE prev_stage IS DISTINCT FROM stage_canonical
),
visits AS (
SELECT o.* EXCLUDE (stage_canonical, stage_order, amount, probability, stage_probability),
       v.stage_canonical, v.entered_at,
       date_diff('second', v.entered_at, v.next_at) / 86400.0 AS days
FROM hist_visits v
JOIN opp o ON o.opportunity_id = v.opportunity_id
WHERE v.next_at IS NOT NULL AND v.stage_canonical NOT IN ('closed_won', 'closed_lost')
  AND v.opportunity_id NOT IN (SELECT opportunity_id FROM opportunities WHERE close_date < created_date)
)
SELECT "owner", CAST(date_trunc('month', entered_at) AS DATE) AS period_start, CAST(avg(days) AS DOUBLE) AS value, CAST(median(days) AS DOUBLE) AS median, CAST(quantile_cont(days, 0.25) AS DOUBLE) AS p25, CAST(quantile_cont(days, 0.75) AS DOUBLE) AS p75, count(days) AS n
FROM visits
WHERE entered_at >= $4 AND entered_at < $5
GROUP BY ALL
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
