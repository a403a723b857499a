-- params: ['SMB', datetime.date(2026, 7, 1), datetime.date(2026, 10, 1)]
WITH
reps_d AS (
SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager, min(hire_date) AS hire_date
FROM reps r
WHERE TRUE
GROUP BY owner
),
opp_all AS NOT MATERIALIZED (
SELECT o.opportunity_id, o.opportunity_name, o.owner, r.team,
       coalesce(o.segment, r.segment) AS segment, r.segment AS rep_segment, r.role, r.manager,
       o.region, o.lead_source, o.opportunity_type, o.product, o.stage,
       coalesce(o.stage_canonical, 'opportunity') AS stage_canonical, o.stage_order, o.amount,
       o.created_date, o.close_date, coalesce(o.is_closed, false) AS is_closed,
       coalesce(o.is_won, false) AS is_won, o.probability, o.stage_probability
FROM opportunities o
LEFT JOIN reps_d r ON r.owner = o.owner
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
       quota_amount * date_diff('day', greatest(period_start, $2, b), least(period_end, $3, CAST(b + INTERVAL 1 MONTH AS DATE)))
         / date_diff('day', period_start, period_end) * 1.0 AS quota
FROM (
    SELECT *, CAST(unnest(generate_series(CAST(date_trunc('month', greatest(period_start, $2)) AS DATE), least(period_end, $3) - INTERVAL 1 DAY,
                                          INTERVAL 1 MONTH)) AS DATE) AS b
    FROM quota
    WHERE quota_amount IS NOT NULL AND period_end > period_start AND period_start < $3 AND period_end > $2
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
WHERE d IS NOT NULL AND d >= $2 AND d < $3 AND NOT EXISTS (SELECT 1 FROM quota_c WHERE quota > 0)
)
SELECT * FROM (
SELECT coalesce(l."owner", r."owner") AS "owner", coalesce(l."period_start", r."period_start") AS "period_start", CAST(numerator AS DOUBLE) / nullif(denominator, 0) AS value, CAST(numerator AS DOUBLE) AS numerator, CAST(denominator AS DOUBLE) AS denominator, denominator AS n
FROM (SELECT "owner", CAST(date_trunc('month', close_date) AS DATE) AS period_start, sum(amount) AS numerator
FROM opp_r
WHERE (is_won) AND close_date >= $2 AND close_date < $3
GROUP BY ALL) l
FULL OUTER JOIN (SELECT "owner", period_start, count(DISTINCT owner) AS denominator FROM rep_rows
GROUP BY ALL) r ON l."owner" IS NOT DISTINCT FROM r."owner" AND l."period_start" IS NOT DISTINCT FROM r."period_start"
) t
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
