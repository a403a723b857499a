-- params: ['SMB', datetime.date(2026, 7, 1), datetime.date(2026, 10, 1)]
WITH
reps_d AS (
SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager, min(hire_date) AS hire_date, min(region) AS region
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
)
SELECT * REPLACE (CASE WHEN EXISTS (SELECT 1 FROM "activities") THEN value END AS value)
FROM (
SELECT "owner", CAST(date_trunc('month', activity_date) AS DATE) AS period_start, CAST(count(*) AS DOUBLE) AS value, count(*) AS n
FROM act
WHERE (TRUE) AND activity_date >= $2 AND activity_date < $3
GROUP BY ALL
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
) req_t
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
