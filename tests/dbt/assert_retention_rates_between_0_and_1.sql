-- a retention rate is a share of the cohort
select *
from {{ ref('retention_weekly') }}
where retention_rate < 0 or retention_rate > 1 or active > cohort_size
