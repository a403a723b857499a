-- params: ['SMB', 'Mid-Market', 'Enterprise', datetime.date(2026, 11, 22), 1.5]
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
open_entry AS (
SELECT o.opportunity_id, max(h.entered_at) AS entered
FROM opp_all o
JOIN hist h ON h.opportunity_id = o.opportunity_id AND h.stage = o.stage
WHERE NOT o.is_closed
GROUP BY o.opportunity_id
),
open_age_all AS (
SELECT o.opportunity_id, o.stage,
       date_diff('day', coalesce(CAST(e.entered AS DATE), o.created_date), $4) AS days_in_stage
FROM opp_all o
LEFT JOIN open_entry e ON e.opportunity_id = o.opportunity_id
WHERE NOT o.is_closed
),
open_age AS (
SELECT o.*, a.days_in_stage
FROM opp o
JOIN open_age_all a ON a.opportunity_id = o.opportunity_id
WHERE a.days_in_stage IS NOT NULL
),
hist_next AS (
SELECT stage, entered_at,
       lead(entered_at) OVER (PARTITION BY opportunity_id ORDER BY entered_at, stage_order) AS next_at
FROM hist
WHERE opportunity_id NOT IN (SELECT opportunity_id FROM opportunities WHERE close_date < created_date)
),
stage_median AS (
SELECT stage, median(date_diff('second', entered_at, next_at) / 86400.0) AS med
FROM hist_next
WHERE next_at IS NOT NULL
GROUP BY stage
),
stage_norm AS (
SELECT a.stage, coalesce(any_value(m.med), median(a.days_in_stage)) AS stage_median
FROM open_age_all a
LEFT JOIN stage_median m ON m.stage = a.stage
WHERE a.days_in_stage IS NOT NULL
GROUP BY a.stage
),
stage_age AS (
SELECT a.*, n.stage_median
FROM open_age a
LEFT JOIN stage_norm n ON n.stage = a.stage
)
SELECT "owner", NULL::DATE AS period_start, CAST(count(*) FILTER (WHERE days_in_stage > $5 * stage_median) AS DOUBLE) / nullif(count(*), 0) AS value, CAST(count(*) FILTER (WHERE days_in_stage > $5 * stage_median) AS DOUBLE) AS numerator, CAST(count(*) AS DOUBLE) AS denominator, count(*) AS n
FROM stage_age
GROUP BY ALL
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
