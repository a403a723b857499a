-- params: ['SMB', datetime.date(2026, 7, 1), datetime.date(2026, 10, 1)]
WITH
reps_d AS (
SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager, min(hire_date) AS hire_date, min(region) AS region
FROM reps r
WHERE TRUE
GROUP BY owner
),
lead AS (
SELECT * FROM (
SELECT l.lead_id, l.owner, r.team, coalesce(l.segment, r.segment) AS segment,
       r.role, r.manager, l.lead_source, l.status, l.created_date, l.sal_date, l.sql_date,
       l.converted_date, l.converted_opportunity_id,
       CASE WHEN l.first_response_at IS NOT NULL
            THEN date_diff('second', l.created_date, l.first_response_at) / 3600.0
            WHEN fa.first_activity IS NOT NULL
            THEN greatest(0, date_diff('second', l.created_date,
                                       CAST(fa.first_activity AS TIMESTAMP)) / 3600.0)
       END AS response_hours
FROM leads l
LEFT JOIN reps_d r ON r.owner = l.owner
LEFT JOIN (
    SELECT lead_id, min(activity_date) AS first_activity
    FROM activities a
    WHERE lead_id IS NOT NULL AND TRUE
    GROUP BY lead_id
) fa ON fa.lead_id = l.lead_id
WHERE TRUE
) WHERE "segment" IN ($1)
),
growth_rows AS (
SELECT * FROM (
SELECT *, CASE WHEN EXISTS (SELECT 1 FROM "leads" WHERE sql_date IS NOT NULL) THEN sql_date ELSE created_date END AS growth_date
FROM lead
WHERE (TRUE)
) WHERE growth_date IS NOT NULL
),
growth_n AS (
SELECT "owner", CAST(date_trunc('month', growth_date) AS DATE) AS period_start,
       count(*) FILTER (WHERE growth_date >= $2 AND growth_date < $3) AS c_in, count(*) AS c
FROM growth_rows
GROUP BY ALL
),
growth_b AS (
SELECT "owner", period_start FROM growth_n WHERE c_in > 0
UNION
SELECT "owner", CAST(period_start + INTERVAL 1 MONTH AS DATE) FROM growth_n
WHERE CAST(period_start + INTERVAL 1 MONTH AS DATE) <= (SELECT max(period_start) FROM growth_n) AND CAST(period_start + INTERVAL 1 MONTH AS DATE) < $3 AND CAST(period_start + INTERVAL 1 MONTH AS DATE) + INTERVAL 1 MONTH > $2
)
SELECT "owner", period_start, CAST(numerator - denominator AS DOUBLE) / nullif(denominator, 0) AS value, numerator, denominator, CAST(numerator AS BIGINT) AS n
FROM (
    SELECT b.*, CAST(coalesce(c.c_in, 0) AS DOUBLE) AS numerator,
           CAST(coalesce(p.c, 0) AS DOUBLE) AS denominator
    FROM growth_b b
    LEFT JOIN growth_n c ON c."owner" IS NOT DISTINCT FROM b."owner" AND c.period_start = b.period_start
    LEFT JOIN growth_n p ON p."owner" IS NOT DISTINCT FROM b."owner" AND p.period_start = CAST(b.period_start - INTERVAL 1 MONTH AS DATE)
) t
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
