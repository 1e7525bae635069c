with

source as (

    select * from {{ source('accounts', 'events') }}

),

renamed as (

    select
        event_id,
        cookie,
        created_at,
        account_id,
        {{ webfunnel.sha256_hex('lower(trim(email))') }} as person_id,
        lower(trim(event_type)) as event_type,
        nullif(lower(trim(plan)), '') as plan,
        _batch_id as batch_id,
        row_number() over (
            partition by event_id
            order by _partition_at, _batch_id, _file_row_number
        ) as delivery_number

    from source

)

select * from renamed
where delivery_number = 1
