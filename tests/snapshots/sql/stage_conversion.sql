-- params: ['SMB', 'Mid-Market', 'Enterprise', datetime.date(2026, 7, 1), datetime.date(2026, 10, 1)]
WITH
reps_d AS (
SELECT owner, min(team) AS team, min(segment) AS segment, min(role) AS role,
       min(manager) AS manager, min(hire_date) AS hire_date, min(region) AS region
FROM reps r
WHERE TRUE
GROUP BY owner
),
seg_bounds AS (
SELECT coalesce(max(TRY_CAST(json_extract_string(value, '$.mid_market_min') AS DOUBLE)), 100.0) AS mid_min,
       coalesce(max(TRY_CAST(json_extract_string(value, '$.enterprise_min') AS DOUBLE)), 1000.0) AS ent_min
FROM _meta
WHERE key = 'segment_thresholds'
),
acc_id AS (
SELECT account_id, min(industry) AS industry, min(segment) AS segment, min(region) AS region,
       min(employees) AS employees
FROM accounts a
WHERE TRUE AND account_id IS NOT NULL
GROUP BY account_id
),
acc_name AS (
SELECT lower(trim(account_name)) AS name_key, min(industry) AS industry, min(segment) AS segment, min(region) AS region,
       min(employees) AS employees
FROM accounts a
WHERE TRUE AND account_name IS NOT NULL
GROUP BY name_key
),
opp_all AS NOT MATERIALIZED (
SELECT o.opportunity_id, o.opportunity_name, o.owner, r.team,
       coalesce(o.segment, a.segment, CASE WHEN a.employees IS NULL THEN NULL
            WHEN a.employees >= b.ent_min THEN $3
            WHEN a.employees >= b.mid_min THEN $2
            ELSE $1 END, r.segment) AS segment,
       CASE WHEN o.segment IS NOT NULL THEN 'deal' WHEN a.segment IS NOT NULL THEN 'account'
            WHEN a.employees IS NOT NULL THEN 'account_employees'
            WHEN r.segment IS NOT NULL THEN 'rep' END AS segment_source,
       r.segment AS rep_segment, r.role, r.manager,
       coalesce(o.region, r.region, a.region) AS region,
       CASE WHEN o.region IS NOT NULL THEN 'deal' WHEN r.region IS NOT NULL THEN 'rep'
            WHEN a.region IS NOT NULL THEN 'account' END AS region_source,
       a.industry, CASE WHEN a.industry IS NOT NULL THEN 'account' END AS industry_source,
       o.lead_source, o.opportunity_type, o.product, o.stage,
       coalesce(o.stage_canonical, 'opportunity') AS stage_canonical, o.stage_order, o.amount,
       o.created_date, o.close_date, coalesce(o.is_closed, false) AS is_closed,
       coalesce(o.is_won, false) AS is_won, o.probability, o.stage_probability
FROM opportunities o
LEFT JOIN reps_d r ON r.owner = o.owner
LEFT JOIN acc_id ai ON ai.account_id = o.account_id
LEFT JOIN acc_name an ON ai.account_id IS NULL AND an.name_key = lower(trim(o.account_name))
CROSS JOIN seg_bounds b
CROSS JOIN LATERAL (
    SELECT coalesce(ai.industry, an.industry) AS industry,
           coalesce(ai.segment, an.segment) AS segment,
           coalesce(ai.region, an.region) AS region,
           coalesce(ai.employees, an.employees) AS employees
) a
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
SELECT * REPLACE (CASE WHEN EXISTS (SELECT 1 FROM "opportunities" WHERE NOT is_won) THEN value END AS value)
FROM (
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
WHERE created_date IS NOT NULL AND created_date >= $4 AND created_date < $5
GROUP BY ALL
) t
CROSS JOIN deal_stages s
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
) req_t
ORDER BY "owner" NULLS LAST, period_start NULLS LAST
