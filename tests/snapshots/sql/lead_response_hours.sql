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
)
SELECT "owner", CAST(date_trunc('month', created_date) AS DATE) AS period_start, CAST(median(response_hours) AS DOUBLE) AS value, CAST(avg(response_hours) AS DOUBLE) AS mean, CAST(median(response_hours) AS DOUBLE) AS median, CAST(quantile_cont(response_hours, 0.25) AS DOUBLE) AS p25, CAST(quantile_cont(response_hours, 0.75) AS DOUBLE) AS p75, CAST(min(response_hours) AS DOUBLE) AS min, CAST(max(response_hours) AS DOUBLE) AS max, count(response_hours) AS n
FROM lead
WHERE (response_hours >= 0) AND created_date >= $2 AND created_date < $3
GROUP BY ALL
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
