-- signups <= visitors, and a demo, trial or customer is a signed-up person (stages are
-- counted independently, so trials may exceed demos)
select *
from {{ ref('funnel_daily') }}
where
    signups > visitors
    or demos > signups
    or trials > signups
    or customers > signups
