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
SELECT "owner", CAST(date_trunc('month', activity_date) AS DATE) AS period_start, CAST(avg(discovery_score) AS DOUBLE) AS value, CAST(avg(discovery_score) AS DOUBLE) AS mean, CAST(median(discovery_score) AS DOUBLE) AS median, CAST(quantile_cont(discovery_score, 0.25) AS DOUBLE) AS p25, CAST(quantile_cont(discovery_score, 0.75) AS DOUBLE) AS p75, CAST(min(discovery_score) AS DOUBLE) AS min, CAST(max(discovery_score) AS DOUBLE) AS max, count(discovery_score) AS n
FROM act
WHERE (discovery_score IS NOT NULL) AND activity_date >= $2 AND activity_date < $3
GROUP BY ALL
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
