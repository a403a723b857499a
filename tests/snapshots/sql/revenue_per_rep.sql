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
opp_r AS (
SELECT * FROM (
SELECT * REPLACE (rep_segment AS segment) FROM opp_all
) WHERE "segment" IN ($1)
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
quota_c AS (
SELECT owner, team, segment, role, manager, b AS period_start,
       quota_amount * date_diff('day', greatest(period_start, $4, b), least(period_end, $5, CAST(b + INTERVAL 1 MONTH AS DATE)))
         / date_diff('day', period_start, period_end) * 1.0 AS quota
FROM (
    SELECT *, CAST(unnest(generate_series(CAST(date_trunc('month', greatest(period_start, $4)) AS DATE), least(period_end, $5) - INTERVAL 1 DAY,
                                          INTERVAL 1 MONTH)) AS DATE) AS b
    FROM quota
    WHERE quota_amount IS NOT NULL AND period_end > period_start AND period_start < $5 AND period_end > $4
)
),
rep_rows AS (
SELECT owner, team, segment, role, manager, period_start FROM quota_c WHERE quota > 0
UNION ALL
SELECT owner, team, segment, role, manager, CAST(date_trunc('month', d) AS DATE) AS period_start
FROM (
    SELECT owner, team, segment, role, manager, created_date AS d FROM opp_r
    UNION ALL
    SELECT owner, team, segment, role, manager, close_date AS d FROM opp_r
) x
WHERE d IS NOT NULL AND d >= $4 AND d < $5 AND NOT EXISTS (SELECT 1 FROM quota_c WHERE quota > 0)
)
SELECT * FROM (
SELECT coalesce(l."owner", r."owner") AS "owner", coalesce(l."period_start", r."period_start") AS "period_start", CAST(numerator AS DOUBLE) / nullif(denominator, 0) AS value, CAST(numerator AS DOUBLE) AS numerator, CAST(denominator AS DOUBLE) AS denominator, denominator AS n
FROM (SELECT "owner", CAST(date_trunc('month', close_date) AS DATE) AS period_start, sum(amount) AS numerator
FROM opp_r
WHERE (is_won) AND close_date >= $4 AND close_date < $5
GROUP BY ALL) l
FULL OUTER JOIN (SELECT "owner", period_start, count(DISTINCT owner) AS denominator FROM rep_rows
GROUP BY ALL) r ON l."owner" IS NOT DISTINCT FROM r."owner" AND l."period_start" IS NOT DISTINCT FROM r."period_start"
) t
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
