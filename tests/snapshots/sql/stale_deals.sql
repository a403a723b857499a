-- params: ['SMB', datetime.date(2026, 11, 22), 60]
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
),
hist AS NOT MATERIALIZED (
SELECT h.opportunity_id, h.stage, coalesce(h.stage_canonical, 'opportunity') AS stage_canonical,
       h.stage_order, h.entered_at, h.amount, h.probability, h.stage_probability
FROM stage_history h
WHERE TRUE AND h.entered_at IS NOT NULL
),
open_entry AS (
SELECT o.opportunity_id, max(h.entered_at) AS entered
FROM opp_all o
JOIN hist h ON h.opportunity_id = o.opportunity_id AND h.stage = o.stage
WHERE NOT o.is_closed
GROUP BY o.opportunity_id
),
open_age_all AS (
SELECT o.opportunity_id, o.stage,
       date_diff('day', coalesce(CAST(e.entered AS DATE), o.created_date), $2) AS days_in_stage
FROM opp_all o
LEFT JOIN open_entry e ON e.opportunity_id = o.opportunity_id
WHERE NOT o.is_closed
),
open_age AS (
SELECT o.*, a.days_in_stage
FROM opp o
JOIN open_age_all a ON a.opportunity_id = o.opportunity_id
WHERE a.days_in_stage IS NOT NULL
)
SELECT "owner", NULL::DATE AS period_start, CAST(count(*) FILTER (WHERE days_in_stage > $3) AS DOUBLE) AS value, CAST(sum(amount) FILTER (WHERE days_in_stage > $3) AS DOUBLE) AS amount, count(*) AS n
FROM open_age
GROUP BY ALL
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
