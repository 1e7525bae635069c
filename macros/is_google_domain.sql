{#- Google's search domains in every country: google.de, google.co.uk, google.com.au and
    their subdomains (www.google.fr). The channel table lists the common ones; this covers
    the rest (CONTRACT §2 rule 4: "any Google country domain"). -#}
{% macro is_google_domain(host) -%}
    {{ webfunnel.regexp_like(host, '(^|\\.)google\\.(com|[a-z]{2}|com?\\.[a-z]{2})$') }}
{%- endmacro %}
