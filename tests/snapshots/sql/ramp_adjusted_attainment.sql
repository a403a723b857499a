-- params: ['SMB', datetime.date(2026, 7, 1), datetime.date(2026, 10, 1), 12, 0.7, 'Mid-Market', 'Enterprise']
WITH
reps_d AS (
SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager, min(hire_date) AS hire_date, min(region) AS region
FROM reps r
WHERE TRUE
GROUP BY owner
),
quota AS (
SELECT * FROM (
SELECT q.owner, r.team, r.segment, r.role, r.manager, r.hire_date, q.period_start,
       q.period_end, q.quota_amount
FROM quotas q
LEFT JOIN reps_d r ON r.owner = q.owner
WHERE TRUE
) WHERE "segment" IN ($1)
),
quota_r AS (
SELECT owner, team, segment, role, manager, b AS period_start,
       quota_amount * date_diff('day', greatest(period_start, $2, b), least(period_end, $3, CAST(b + INTERVAL 1 MONTH AS DATE)))
         / date_diff('day', period_start, period_end) * CASE WHEN hire_date IS NOT NULL AND period_start < hire_date + to_months($4) THEN $5 ELSE 1.0 END AS quota
FROM (
    SELECT *, CAST(unnest(generate_series(CAST(date_trunc('month', greatest(period_start, $2)) AS DATE), least(period_end, $3) - INTERVAL 1 DAY,
                                          INTERVAL 1 MONTH)) AS DATE) AS b
    FROM quota
    WHERE quota_amount IS NOT NULL AND period_end > period_start AND period_start < $3 AND period_end > $2
)
),
q_owner AS (
SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager, period_start, sum(quota) AS quota
FROM quota_r
GROUP BY owner, period_start
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
            WHEN a.employees >= b.ent_min THEN $7
            WHEN a.employees >= b.mid_min THEN $6
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
opp_r AS (
SELECT * FROM (
SELECT * REPLACE (rep_segment AS segment) FROM opp_all
) WHERE "segment" IN ($1)
),
n_owner AS (
SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager, CAST(date_trunc('month', close_date) AS DATE) AS period_start, sum(amount) AS num
FROM opp_r
WHERE (is_won) AND close_date >= $2 AND close_date < $3
GROUP BY ALL
),
per_owner AS (
SELECT coalesce(qo.owner, no.owner) AS owner, coalesce(qo.team, no.team) AS team, coalesce(qo.segment, no.segment) AS segment, coalesce(qo.role, no.role) AS role, coalesce(qo.manager, no.manager) AS manager, coalesce(qo.period_start, no.period_start) AS period_start, qo.quota, no.num,
       CASE WHEN qo.quota > 0 THEN coalesce(no.num, 0) / qo.quota END AS att
FROM q_owner qo
FULL OUTER JOIN n_owner no ON qo.owner IS NOT DISTINCT FROM no.owner AND qo.period_start IS NOT DISTINCT FROM no.period_start
)
SELECT "owner", period_start, CAST(sum(coalesce(num, 0)) FILTER (WHERE quota > 0) / nullif(sum(quota) FILTER (WHERE quota > 0), 0) AS DOUBLE) AS value, CAST(sum(coalesce(num, 0)) FILTER (WHERE quota > 0) AS DOUBLE) AS numerator, CAST(sum(quota) FILTER (WHERE quota > 0) AS DOUBLE) AS denominator, CAST(median(att) AS DOUBLE) AS median, CAST(quantile_cont(att, 0.25) AS DOUBLE) AS p25, CAST(quantile_cont(att, 0.75) AS DOUBLE) AS p75, CAST(avg(CASE WHEN att >= 1 THEN 1.0 WHEN att IS NOT NULL THEN 0.0 END) AS DOUBLE) AS share_at_or_above_100, count(att) AS n
FROM per_owner
GROUP BY ALL
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
