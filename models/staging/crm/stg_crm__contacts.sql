with

source as (

    select * from {{ source('crm', 'contacts') }}

),

renamed as (

    select
        {{ webfunnel.sha256_hex('lower(trim(email))') }} as person_id,
        demo_at,
        trial_at,
        customer_at,
        updated_at,
        _batch_id as batch_id,
        -- a contact state is identified by (email, updated_at): redeliveries count once
        row_number() over (
            partition by lower(trim(email)), updated_at
            order by _partition_at, _batch_id, _file_row_number
        ) as delivery_number

    from source

)

select * from renamed
where delivery_number = 1
