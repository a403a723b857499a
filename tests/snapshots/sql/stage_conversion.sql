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
hist_reach AS (
SELECT opportunity_id,
       max(CASE stage_canonical WHEN 'lead' THEN 0 WHEN 'sal' THEN 1 WHEN 'sql' THEN 2 WHEN 'opportunity' THEN 3 WHEN 'proposal' THEN 4 WHEN 'closed_won' THEN 5 WHEN 'closed_lost' THEN -1 ELSE 3 END) FILTER (WHERE stage_canonical <> 'closed_lost') AS hmax
FROM hist
GROUP BY opportunity_id
),
reach AS (
SELECT o.*, greatest(3, CASE
         WHEN o.is_won THEN 5
         WHEN h.opportunity_id IS NOT NULL
           THEN greatest(coalesce(h.hmax, -1),
                         CASE WHEN o.stage_canonical = 'closed_lost' THEN -1 ELSE CASE o.stage_canonical WHEN 'lead' THEN 0 WHEN 'sal' THEN 1 WHEN 'sql' THEN 2 WHEN 'opportunity' THEN 3 WHEN 'proposal' THEN 4 WHEN 'closed_won' THEN 5 WHEN 'closed_lost' THEN -1 ELSE 3 END END)
         WHEN o.stage_canonical = 'closed_lost' THEN 3
         ELSE CASE o.stage_canonical WHEN 'lead' THEN 0 WHEN 'sal' THEN 1 WHEN 'sql' THEN 2 WHEN 'opportunity' THEN 3 WHEN 'proposal' THEN 4 WHEN 'closed_won' THEN 5 WHEN 'closed_lost' THEN -1 ELSE 3 END END) AS reached
FROM opp o
LEFT JOIN hist_reach h ON h.opportunity_id = o.opportunity_id
),
deal_stages AS (
SELECT bool_or(s = 'proposal') AS has_proposal, bool_or(s = 'closed_won') AS has_won
FROM (
    SELECT canonical AS s FROM stage_map
    UNION ALL SELECT stage_canonical FROM opportunities
    UNION ALL SELECT stage_canonical FROM stage_history
    UNION ALL SELECT 'closed_won' FROM opportunities WHERE is_won
)
)
SELECT "owner", period_start, 
       CASE WHEN s.has_won THEN CAST(reached_closed_won AS DOUBLE) / nullif(reached_opportunity, 0) END AS value,
       CASE WHEN s.has_won THEN CAST(reached_closed_won AS DOUBLE) END AS numerator,
       CAST(reached_opportunity AS DOUBLE) AS denominator,
       CASE WHEN s.has_proposal
            THEN CAST(reached_proposal AS DOUBLE) / nullif(reached_opportunity, 0)
       END AS opportunity_to_proposal,
       CASE WHEN s.has_proposal AND s.has_won
            THEN CAST(reached_closed_won AS DOUBLE) / nullif(reached_proposal, 0)
       END AS proposal_to_closed_won,
       CASE WHEN NOT s.has_proposal AND s.has_won THEN CAST(reached_closed_won AS DOUBLE) / nullif(reached_opportunity, 0) END AS opportunity_to_closed_won,
       reached_opportunity, CASE WHEN s.has_proposal THEN reached_proposal END AS reached_proposal,
       reached_closed_won, reached_opportunity AS n
FROM (
SELECT "owner", CAST(date_trunc('month', created_date) AS DATE) AS period_start, count(*) FILTER (WHERE reached >= 3) AS reached_opportunity, count(*) FILTER (WHERE reached >= 4) AS reached_proposal, count(*) FILTER (WHERE reached >= 5) AS reached_closed_won
FROM reach
WHERE created_date IS NOT NULL AND created_date >= $2 AND created_date < $3
GROUP BY ALL
) t
CROSS JOIN deal_stages s
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
