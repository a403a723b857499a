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
opp AS (
SELECT * FROM opp_all
WHERE "segment" IN ($1)
)
SELECT "owner", CAST(date_trunc('month', close_date) AS DATE) AS period_start, CAST(avg(date_diff('day', created_date, close_date)) AS DOUBLE) AS value, CAST(avg(date_diff('day', created_date, close_date)) AS DOUBLE) AS mean, CAST(median(date_diff('day', created_date, close_date)) AS DOUBLE) AS median, CAST(quantile_cont(date_diff('day', created_date, close_date), 0.25) AS DOUBLE) AS p25, CAST(quantile_cont(date_diff('day', created_date, close_date), 0.75) AS DOUBLE) AS p75, CAST(min(date_diff('day', created_date, close_date)) AS DOUBLE) AS min, CAST(max(date_diff('day', created_date, close_date)) AS DOUBLE) AS max, count(date_diff('day', created_date, close_date)) AS n
FROM opp
WHERE (is_won AND close_date >= created_date) AND close_date >= $2 AND close_date < $3
GROUP BY ALL
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
