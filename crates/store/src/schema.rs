//! The diesel schema, written once for both backends. Times are `BigInt`
//! microseconds since the Unix epoch (UTC); JSON documents are `Text`.

diesel::table! {
    projects (id) {
        id -> Text,
        name -> Text,
        environment -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        project_id -> Text,
        name -> Nullable<Text>,
        prefix -> Text,
        key_hash -> Text,
        scopes -> Text,
        tools -> Nullable<Text>,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        kind -> Text,
        client_id -> Nullable<Text>,
        client_name -> Nullable<Text>,
    }
}

diesel::table! {
    auth_providers (project_id, provider) {
        project_id -> Text,
        provider -> Text,
        enabled -> Bool,
        client_id -> Nullable<Text>,
        client_secret_enc -> Nullable<Text>,
        updated_at -> BigInt,
        settings -> Text,
    }
}

diesel::table! {
    oauth_states (state_hash) {
        state_hash -> Text,
        project_id -> Text,
        provider -> Text,
        redirect_url -> Text,
        app_state -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        verifier_enc -> Text,
        nonce_hash -> Text,
        binding_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    oauth_codes (code_hash) {
        code_hash -> Text,
        project_id -> Text,
        user_id -> Text,
        provider -> Text,
        redirect_url -> Text,
        code_challenge -> Nullable<Text>,
        is_new_user -> Bool,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    callback_urls (id) {
        id -> Text,
        project_id -> Text,
        url -> Text,
        created_at -> BigInt,
        origin -> Text,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        project_id -> Text,
        event_type -> Text,
        actor_type -> Text,
        actor_id -> Nullable<Text>,
        client_name -> Nullable<Text>,
        client_version -> Nullable<Text>,
        tool -> Nullable<Text>,
        targets -> Text,
        arguments_hash -> Nullable<Text>,
        outcome -> Text,
        error_code -> Nullable<Text>,
        latency_ms -> Nullable<BigInt>,
        request_id -> Nullable<Text>,
        metadata -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(api_keys -> projects (project_id));
diesel::joinable!(auth_providers -> projects (project_id));
diesel::joinable!(callback_urls -> projects (project_id));
diesel::joinable!(audit_events -> projects (project_id));

diesel::allow_tables_to_appear_in_same_query!(
    projects,
    api_keys,
    auth_providers,
    callback_urls,
    audit_events,
);

diesel::table! {
    email_templates (project_id, kind) {
        project_id -> Text,
        kind -> Text,
        subject -> Text,
        content -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    email_outbox (id) {
        id -> Text,
        project_id -> Text,
        kind -> Text,
        to_address -> Text,
        subject -> Text,
        html_body -> Text,
        text_body -> Text,
        status -> Text,
        attempts -> BigInt,
        last_error -> Nullable<Text>,
        next_attempt_at -> BigInt,
        claimed_at -> Nullable<BigInt>,
        created_at -> BigInt,
        sent_at -> Nullable<BigInt>,
        variables -> Nullable<Text>,
    }
}

diesel::joinable!(email_templates -> projects (project_id));
diesel::joinable!(email_outbox -> projects (project_id));
diesel::allow_tables_to_appear_in_same_query!(projects, email_templates, email_outbox);

diesel::table! {
    audit_event_targets (project_id, target_id, event_id) {
        project_id -> Text,
        target_id -> Text,
        event_id -> Text,
    }
}

diesel::joinable!(audit_event_targets -> projects (project_id));
diesel::allow_tables_to_appear_in_same_query!(audit_events, audit_event_targets);

diesel::table! {
    end_users (id) {
        id -> Text,
        project_id -> Text,
        email -> Nullable<Text>,
        name -> Nullable<Text>,
        email_verified -> Bool,
        metadata -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_sign_in_at -> Nullable<BigInt>,
        pending_email -> Nullable<Text>,
        phone -> Nullable<Text>,
        phone_verified -> Bool,
    }
}

diesel::table! {
    sms_codes (id) {
        id -> Text,
        project_id -> Text,
        phone -> Text,
        code_hash -> Text,
        tries -> Integer,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    password_credentials (user_id) {
        user_id -> Text,
        project_id -> Text,
        password_hash -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    oauth_accounts (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Text,
        provider -> Text,
        provider_user_id -> Text,
        email -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    mfa_factors (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Text,
        kind -> Text,
        secret_enc -> Text,
        status -> Text,
        created_at -> BigInt,
        verified_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    verification_codes (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Text,
        code_hash -> Text,
        attempts -> BigInt,
        expires_at -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    auth_tokens (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Text,
        kind -> Text,
        token_hash -> Text,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> Text,
        project_id -> Text,
        public_key -> Text,
        private_key_enc -> Text,
        state -> Text,
        created_at -> BigInt,
        activated_at -> Nullable<BigInt>,
        publish_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Text,
        created_at -> BigInt,
        last_active_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        org_id -> Nullable<Text>,
        role -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        project_id -> Text,
        session_id -> Text,
        user_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    auth_throttle (project_id, subject, window_start) {
        project_id -> Text,
        subject -> Text,
        window_start -> BigInt,
        attempts -> BigInt,
    }
}

diesel::joinable!(password_credentials -> end_users (user_id));
diesel::joinable!(sessions -> end_users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    end_users,
    password_credentials,
    oauth_accounts,
    mfa_factors,
    verification_codes,
    auth_tokens,
    signing_keys,
    sessions,
    refresh_tokens,
    auth_throttle,
    projects,
);

diesel::table! {
    roles (id) {
        id -> Text,
        project_id -> Text,
        key -> Text,
        name -> Text,
        permissions -> Text,
        is_default -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        grants -> Text,
        archived_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        project_id -> Text,
        name -> Text,
        slug -> Text,
        image_url -> Nullable<Text>,
        member_limit -> Nullable<BigInt>,
        metadata -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    memberships (id) {
        id -> Text,
        project_id -> Text,
        org_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(memberships -> organizations (org_id));
diesel::joinable!(memberships -> end_users (user_id));
diesel::allow_tables_to_appear_in_same_query!(roles, organizations, memberships, end_users);

diesel::table! {
    invitations (id) {
        id -> Text,
        project_id -> Text,
        org_id -> Text,
        email -> Text,
        role -> Text,
        token_hash -> Text,
        status -> Text,
        expires_at -> BigInt,
        created_at -> BigInt,
        accepted_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(invitations -> organizations (org_id));
diesel::allow_tables_to_appear_in_same_query!(invitations, organizations);

diesel::table! {
    rbac_resources (id) {
        id -> Text,
        project_id -> Text,
        key -> Text,
        name -> Text,
        actions -> Text,
        archived_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    plans (id) {
        id -> Text,
        project_id -> Text,
        key -> Text,
        name -> Text,
        description -> Nullable<Text>,
        features -> Text,
        archived_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        stripe_product_id -> Nullable<Text>,
    }
}

diesel::table! {
    prices (id) {
        id -> Text,
        project_id -> Text,
        plan_id -> Text,
        amount_cents -> BigInt,
        currency -> Text,
        interval -> Text,
        archived_at -> Nullable<BigInt>,
        created_at -> BigInt,
        stripe_price_id -> Nullable<Text>,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Text,
        plan_id -> Text,
        price_id -> Text,
        status -> Text,
        current_period_start -> BigInt,
        current_period_end -> Nullable<BigInt>,
        cancel_at_period_end -> Bool,
        canceled_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        stripe_subscription_id -> Nullable<Text>,
        stripe_customer_id -> Nullable<Text>,
        stripe_event_at -> Nullable<BigInt>,
        mirror_pending_since -> Nullable<BigInt>,
    }
}

diesel::table! {
    usage_events (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Text,
        meter -> Text,
        quantity -> BigInt,
        occurred_at -> BigInt,
        idempotency_key -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(prices -> plans (plan_id));
diesel::joinable!(subscriptions -> plans (plan_id));
diesel::joinable!(subscriptions -> prices (price_id));
diesel::allow_tables_to_appear_in_same_query!(
    plans,
    prices,
    subscriptions,
    usage_events,
    end_users
);

diesel::table! {
    billing_migrations (id) {
        id -> Text,
        project_id -> Text,
        from_plan_id -> Text,
        to_plan_id -> Text,
        created_at -> BigInt,
        completed_at -> Nullable<BigInt>,
        proration -> Text,
    }
}

diesel::table! {
    billing_migration_items (id) {
        id -> Text,
        project_id -> Text,
        migration_id -> Text,
        subscription_id -> Text,
        from_price_id -> Text,
        to_price_id -> Nullable<Text>,
        status -> Text,
        reason -> Nullable<Text>,
        moved_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(billing_migration_items -> billing_migrations (migration_id));
diesel::allow_tables_to_appear_in_same_query!(billing_migrations, billing_migration_items);

diesel::table! {
    security_alerts (id) {
        id -> Text,
        project_id -> Text,
        rule -> Text,
        subject -> Text,
        severity -> Text,
        status -> Text,
        summary -> Text,
        count -> BigInt,
        first_seen -> BigInt,
        last_seen -> BigInt,
        opened_at -> Nullable<BigInt>,
        acknowledged_at -> Nullable<BigInt>,
        acknowledged_by -> Nullable<Text>,
        resolved_at -> Nullable<BigInt>,
        resolved_by -> Nullable<Text>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    security_signals (project_id, rule, subject, value) {
        project_id -> Text,
        rule -> Text,
        subject -> Text,
        value -> Text,
        seen_at -> BigInt,
    }
}

diesel::table! {
    stripe_events (event_id) {
        event_id -> Text,
        event_type -> Text,
        received_at -> BigInt,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        project_id -> Text,
        url -> Text,
        events -> Text,
        description -> Nullable<Text>,
        secret_enc -> Text,
        previous_secret_enc -> Nullable<Text>,
        previous_until -> Nullable<BigInt>,
        disabled -> Bool,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    webhook_messages (id) {
        id -> Text,
        project_id -> Text,
        event_type -> Text,
        payload -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        project_id -> Text,
        endpoint_id -> Text,
        message_id -> Text,
        event_type -> Text,
        status -> Text,
        attempts -> BigInt,
        last_status_code -> Nullable<BigInt>,
        last_response -> Nullable<Text>,
        last_error -> Nullable<Text>,
        next_attempt_at -> Nullable<BigInt>,
        claim -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> webhook_messages (message_id));
diesel::allow_tables_to_appear_in_same_query!(
    webhook_endpoints,
    webhook_messages,
    webhook_deliveries
);

diesel::table! {
    mcp_clients (id) {
        id -> Text,
        registration -> Text,
        client_name -> Nullable<Text>,
        redirect_uris -> Text,
        auth_method -> Text,
        secret_hash -> Nullable<Text>,
        application_type -> Text,
        created_at -> BigInt,
        last_used_at -> BigInt,
    }
}

diesel::table! {
    mcp_codes (code_hash) {
        code_hash -> Text,
        project_id -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Text,
        resource -> Text,
        scopes -> Text,
        tools -> Nullable<Text>,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        key_id -> Nullable<Text>,
    }
}

diesel::table! {
    mcp_tokens (token_hash) {
        token_hash -> Text,
        kind -> Text,
        project_id -> Text,
        key_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    admin_sessions (id_hash) {
        id_hash -> Text,
        project_id -> Nullable<Text>,
        key_id -> Nullable<Text>,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    admin_links (token_hash) {
        token_hash -> Text,
        project_id -> Nullable<Text>,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(mcp_tokens -> api_keys (key_id));
diesel::allow_tables_to_appear_in_same_query!(mcp_tokens, api_keys);
diesel::allow_tables_to_appear_in_same_query!(mcp_tokens, projects);
