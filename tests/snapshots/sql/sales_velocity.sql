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
SELECT *, CAST(opportunities_created * win_rate * avg_deal_size
                  / nullif(sales_cycle_days, 0) AS DOUBLE) AS value
FROM (
    SELECT coalesce(c."owner", d."owner") AS "owner", coalesce(c."period_start", d."period_start") AS "period_start", CAST(coalesce(c.opportunities_created, 0) AS DOUBLE) AS opportunities_created,
           CAST(d.won AS DOUBLE) / nullif(d.closed, 0) AS win_rate,
           CAST(d.won_amount / nullif(d.won_with_amount, 0) AS DOUBLE) AS avg_deal_size,
           CAST(d.mean_cycle AS DOUBLE) AS sales_cycle_days
    FROM (SELECT "owner", CAST(date_trunc('month', created_date) AS DATE) AS period_start, count(*) AS opportunities_created
FROM opp
WHERE created_date IS NOT NULL AND created_date >= $2 AND created_date < $3
GROUP BY ALL) c
FULL OUTER JOIN (SELECT "owner", CAST(date_trunc('month', close_date) AS DATE) AS period_start, count(*) FILTER (WHERE is_won) AS won, count(*) AS closed, sum(amount) FILTER (WHERE is_won) AS won_amount, count(amount) FILTER (WHERE is_won) AS won_with_amount, avg(date_diff('day', created_date, close_date)) FILTER (WHERE is_won AND close_date >= created_date) AS mean_cycle
FROM opp
WHERE is_closed AND close_date >= $2 AND close_date < $3
GROUP BY ALL) d ON c."owner" IS NOT DISTINCT FROM d."owner" AND c."period_start" IS NOT DISTINCT FROM d."period_start"
) t
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
