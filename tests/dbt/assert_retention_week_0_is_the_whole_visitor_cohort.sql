-- a visitor cohort is defined by a ping in its week, so everyone is active in week 0
-- (user and customer cohorts are defined by a signup or a CRM date, not by activity)
select *
from {{ ref('retention_weekly') }}
where cohort_type = 'visitor' and weeks_since = 0 and active <> cohort_size
