with

source as (

    select * from {{ source('pings', 'user_agents') }}

),

renamed as (

    select
        user_agent,
        device_class,
        browser,
        os,
        device_class = 'bot' as is_bot

    from source

)

select * from renamed
