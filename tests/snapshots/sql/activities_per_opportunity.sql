-- params: ['SMB', datetime.date(2026, 7, 1), datetime.date(2026, 10, 1)]
WITH
reps_d AS (
SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager, min(hire_date) AS hire_date
FROM reps r
WHERE TRUE
GROUP BY owner
),
act AS (
SELECT * FROM (
SELECT a.activity_id, a.owner, r.team, r.segment, r.role, r.manager, a.activity_type,
       a.activity_date, a.opportunity_id, a.lead_id, a.discovery_score
FROM activities a
LEFT JOIN reps_d r ON r.owner = a.owner
WHERE TRUE
) WHERE "segment" IN ($1)
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
)
SELECT * REPLACE (CASE WHEN EXISTS (SELECT 1 FROM "activities") THEN value END AS value)
FROM (
SELECT * FROM (
SELECT coalesce(l."owner", r."owner") AS "owner", coalesce(l."period_start", r."period_start") AS "period_start", CAST(numerator AS DOUBLE) / nullif(CAST(denominator AS DOUBLE), 0) AS value, CAST(numerator AS DOUBLE) AS numerator, CAST(denominator AS DOUBLE) AS denominator, CAST(denominator AS BIGINT) AS n
FROM (SELECT "owner", CAST(date_trunc('month', activity_date) AS DATE) AS period_start, count(*) AS numerator
FROM act
WHERE (TRUE) AND activity_date >= $2 AND activity_date < $3
GROUP BY ALL) l
FULL OUTER JOIN (SELECT "owner", CAST(date_trunc('month', created_date) AS DATE) AS period_start, count(*) AS denominator
FROM opp_r
WHERE (TRUE) AND created_date >= $2 AND created_date < $3
GROUP BY ALL) r ON l."owner" IS NOT DISTINCT FROM r."owner" AND l."period_start" IS NOT DISTINCT FROM r."period_start"
) t
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
) req_t
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
