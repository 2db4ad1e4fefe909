//! Every domain's tools, groups and sections, in one checked registry.

use authgate_core::{Registry, ToolRegistry};

/// Every domain's tools, groups and status sections, checked.
pub fn registry() -> Result<Registry, String> {
    let mut registry = ToolRegistry::new();
    authgate_project::register(&mut registry);
    authgate_audit::register(&mut registry);
    authgate_email::register(&mut registry);
    authgate_sessions::register(&mut registry);
    authgate_identity::register(&mut registry);
    authgate_rbac::register(&mut registry);
    authgate_orgs::register(&mut registry);
    authgate_billing::register(&mut registry);
    authgate_export::register(&mut registry);
    authgate_security::register(&mut registry);
    authgate_webhooks::register(&mut registry);
    registry
        .build()
        .map_err(|problems| format!("the tool registry is invalid: {}", problems.join("; ")))
}
