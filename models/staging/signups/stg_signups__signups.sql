with

source as (

    select * from {{ source('signups', 'signups') }}

),

renamed as (

    select
        event_id,
        cookie,
        created_at as signed_up_at,
        -- a person is lower(trim(email)); the raw email goes no further than this model
        {{ webfunnel.sha256_hex('lower(trim(email))') }} as person_id,
        nullif(trim(referring_channel), '') as referring_channel,
        _batch_id as batch_id,
        row_number() over (
            partition by event_id
            order by _partition_at, _batch_id, _file_row_number
        ) as delivery_number

    from source

)

select * from renamed
where delivery_number = 1
