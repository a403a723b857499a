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
),
hist AS NOT MATERIALIZED (
SELECT h.opportunity_id, h.stage, coalesce(h.stage_canonical, 'opportunity') AS stage_canonical,
       h.stage_order, h.entered_at, h.amount, h.probability, h.stage_probability
FROM stage_history h
WHERE TRUE AND h.entered_at IS NOT NULL
),
hist_p AS (
SELECT *
FROM hist
WHERE opportunity_id IN (SELECT opportunity_id FROM hist WHERE entered_at >= $2 AND entered_at < $3)
),
hist_runs AS (
SELECT opportunity_id, stage_canonical, stage_order, entered_at,
       lag(stage_canonical) OVER w AS prev_stage
FROM hist_p
WINDOW w AS (PARTITION BY opportunity_id ORDER BY entered_at, stage_order)
),
hist_visits AS (
SELECT *, lead(entered_at) OVER (PARTITION BY opportunity_id ORDER BY entered_at, stage_order) AS next_at
FROM hist_runs
WHERE prev_stage IS DISTINCT FROM stage_canonical
),
visits AS (
SELECT o.* EXCLUDE (stage_canonical, stage_order, amount, probability, stage_probability),
       v.stage_canonical, v.entered_at,
       date_diff('second', v.entered_at, v.next_at) / 86400.0 AS days
FROM hist_visits v
JOIN opp o ON o.opportunity_id = v.opportunity_id
WHERE v.next_at IS NOT NULL AND v.stage_canonical NOT IN ('closed_won', 'closed_lost')
  AND v.opportunity_id NOT IN (SELECT opportunity_id FROM opportunities WHERE close_date < created_date)
)
SELECT "owner", CAST(date_trunc('month', entered_at) AS DATE) AS period_start, CAST(avg(days) AS DOUBLE) AS value, CAST(median(days) AS DOUBLE) AS median, CAST(quantile_cont(days, 0.25) AS DOUBLE) AS p25, CAST(quantile_cont(days, 0.75) AS DOUBLE) AS p75, count(days) AS n
FROM visits
WHERE entered_at >= $2 AND entered_at < $3
GROUP BY ALL
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
