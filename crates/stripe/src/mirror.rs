//! The payment mirror on Stripe: products, prices, customers and
//! subscriptions made through Stripe's API.

use std::collections::HashMap;
use std::str::FromStr as _;

use futures::FutureExt as _;
use futures::future::BoxFuture;

use stripe::{Client, ClientBuilder, StripeError};
use stripe_billing::plan::{CreatePlan, CreatePlanProduct};
use stripe_billing::subscription::{
    CancelSubscription, CreateSubscription, CreateSubscriptionItems, UpdateSubscription,
    UpdateSubscriptionItems, UpdateSubscriptionProrationBehavior,
};
use stripe_client_core::{RequestBuilder, StripeMethod, StripeRequest as _};
use stripe_product::product::CreateProduct;

use authgate_billing::{
    MirroredPlan, MirroredSubscription, PaymentMirror, Plan, Proration, SubscriptionRequest,
};
use authgate_core::ToolError;

/// Where Stripe is and how to reach it.
#[derive(Clone)]
pub struct StripeConfig {
    pub secret_key: String,
    /// `STRIPE_API_BASE`: another API root (a stand-in such as
    /// localstripe); Stripe's own when none.
    pub api_base: Option<String>,
}

/// The ledger's mirror in Stripe.
pub struct StripeMirror {
    client: Client,
}

#[derive(miniserde::Deserialize)]
struct Created {
    id: String,
}

/// A subscription's items, as far as a price change needs them.
#[derive(miniserde::Deserialize)]
struct WithItems {
    items: ItemList,
}

#[derive(miniserde::Deserialize)]
struct ItemList {
    data: Vec<Created>,
}

fn unavailable(what: &str, err: &StripeError) -> ToolError {
    // Logged for the operator; the answer names no Stripe internals.
    tracing::warn!(error = %err, "Stripe: could not {what}");
    let refused = matches!(err, StripeError::Stripe(_, status) if *status < 500);
    if refused {
        ToolError::precondition(format!(
            "Stripe refused to {what}; nothing was changed here"
        ))
        .with_hint("check the Stripe account (currency, products, customers) and retry")
    } else {
        ToolError::precondition(format!(
            "Stripe could not be reached to {what}; nothing was changed here"
        ))
        .with_hint("retry in a moment")
        .retryable(true)
    }
}

fn metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl StripeMirror {
    pub fn new(config: &StripeConfig) -> Result<Self, String> {
        let mut builder = ClientBuilder::new(config.secret_key.clone());
        if let Some(base) = &config.api_base {
            let base = if base.ends_with('/') {
                base.clone()
            } else {
                format!("{base}/")
            };
            builder = builder.url(base);
        }
        let client = builder
            .build()
            .map_err(|e| format!("STRIPE_API_BASE: {e}"))?;
        Ok(Self { client })
    }

    async fn send(&self, what: &str, request: RequestBuilder) -> Result<String, ToolError> {
        request
            .customize::<Created>()
            .send(&self.client)
            .await
            .map(|c| c.id)
            .map_err(|e| unavailable(what, &e))
    }

    async fn create_plan(&self, project_id: &str, plan: &Plan) -> Result<MirroredPlan, ToolError> {
        let mut product = CreateProduct::new(plan.name.clone()).metadata(metadata(&[
            ("authgate_project_id", project_id),
            ("authgate_plan_id", &plan.id),
            ("authgate_plan_key", &plan.key),
        ]));
        if let Some(d) = &plan.description {
            product = product.description(d.clone());
        }
        let product_id = self.send("create the product", product.build()).await?;
        let mut prices = Vec::new();
        for price in &plan.prices {
            let interval = match price.interval.as_str() {
                "month" => stripe_billing::PlanInterval::Month,
                "year" => stripe_billing::PlanInterval::Year,
                // A one-time price is no plan: it stays local.
                _ => continue,
            };
            let currency =
                stripe_types::Currency::from_str(&price.amount.currency).map_err(|_| {
                    ToolError::invalid(
                        "currency",
                        format!("Stripe has no currency '{}'", price.amount.currency),
                    )
                })?;
            let request = CreatePlan::new(currency, interval)
                .amount(price.amount.amount_cents)
                .product(CreatePlanProduct::Id(product_id.clone()))
                .metadata(metadata(&[
                    ("authgate_project_id", project_id),
                    ("authgate_plan_id", &plan.id),
                    ("authgate_price_id", &price.id),
                ]));
            let id = self.send("create the price", request.build()).await?;
            prices.push((price.id.clone(), id));
        }
        Ok(MirroredPlan { product_id, prices })
    }

    async fn create_subscription(
        &self, r: SubscriptionRequest<'_>,
    ) -> Result<MirroredSubscription, ToolError> {
        #[derive(serde::Serialize)]
        struct InvoiceSettings<'a> {
            default_payment_method: &'a str,
        }
        #[derive(serde::Serialize)]
        struct NewCustomer<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            email: Option<&'a str>,
            metadata: HashMap<String, String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            payment_method: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            invoice_settings: Option<InvoiceSettings<'a>>,
        }
        let customer = RequestBuilder::new(StripeMethod::Post, "/customers").form(&NewCustomer {
            email: r.email,
            metadata: metadata(&[
                ("authgate_project_id", r.project_id),
                ("authgate_user_id", r.user_id),
            ]),
            payment_method: r.payment_method,
            invoice_settings: r.payment_method.map(|pm| InvoiceSettings {
                default_payment_method: pm,
            }),
        });
        let customer_id = match r.customer_id {
            // One customer per user: the earlier one, with the new card
            // attached and made its default.
            Some(id) => {
                if let Some(pm) = r.payment_method {
                    #[derive(serde::Serialize)]
                    struct Attach<'a> {
                        customer: &'a str,
                    }
                    #[derive(serde::Serialize)]
                    struct SetDefault<'a> {
                        invoice_settings: InvoiceSettings<'a>,
                    }
                    let attach = RequestBuilder::new(
                        StripeMethod::Post,
                        format!("/payment_methods/{pm}/attach"),
                    )
                    .form(&Attach { customer: id });
                    self.send("attach the payment method", attach).await?;
                    let set = RequestBuilder::new(StripeMethod::Post, format!("/customers/{id}"))
                        .form(&SetDefault {
                            invoice_settings: InvoiceSettings {
                                default_payment_method: pm,
                            },
                        });
                    self.send("set the default payment method", set).await?;
                }
                id.to_owned()
            }
            None => self.send("create the customer", customer).await?,
        };
        let mut item = CreateSubscriptionItems::new();
        item.plan = Some(r.provider_price_id.to_owned());
        let request = CreateSubscription::new()
            .customer(customer_id.clone())
            .items(vec![item])
            .metadata(metadata(&[
                ("authgate_project_id", r.project_id),
                ("authgate_subscription_id", r.subscription_id),
                ("authgate_user_id", r.user_id),
            ]));
        let subscription_id = self
            .send("create the subscription", request.build())
            .await?;
        Ok(MirroredSubscription {
            subscription_id,
            customer_id,
        })
    }

    async fn reprice(&self, id: &str, price: &str, proration: Proration) -> Result<(), ToolError> {
        let current = RequestBuilder::new(StripeMethod::Get, format!("/subscriptions/{id}"))
            .customize::<WithItems>()
            .send(&self.client)
            .await
            .map_err(|e| unavailable("read the subscription", &e))?;
        let item_id = current
            .items
            .data
            .into_iter()
            .next()
            .map(|i| i.id)
            .ok_or_else(|| {
                ToolError::precondition("the Stripe subscription has no item to move")
            })?;
        let mut item = UpdateSubscriptionItems::new();
        item.id = Some(item_id);
        item.plan = Some(price.to_owned());
        let behavior = match proration {
            Proration::None => UpdateSubscriptionProrationBehavior::None,
            Proration::CreateProrations => UpdateSubscriptionProrationBehavior::CreateProrations,
            Proration::AlwaysInvoice => UpdateSubscriptionProrationBehavior::AlwaysInvoice,
        };
        let request = UpdateSubscription::new(id.to_owned())
            .items(vec![item])
            .proration_behavior(behavior);
        self.send("move the subscription to its new price", request.build())
            .await
            .map(|_| ())
    }

    async fn cancel(&self, id: &str, immediately: bool) -> Result<(), ToolError> {
        let request = if immediately {
            CancelSubscription::new(id.to_owned()).build()
        } else {
            UpdateSubscription::new(id.to_owned())
                .cancel_at_period_end(true)
                .build()
        };
        self.send("cancel the subscription", request)
            .await
            .map(|_| ())
    }
}

impl PaymentMirror for StripeMirror {
    fn plan_created<'a>(
        &'a self, project_id: &'a str, plan: &'a Plan,
    ) -> BoxFuture<'a, Result<MirroredPlan, ToolError>> {
        self.create_plan(project_id, plan).boxed()
    }

    fn subscription_created<'a>(
        &'a self, request: SubscriptionRequest<'a>,
    ) -> BoxFuture<'a, Result<MirroredSubscription, ToolError>> {
        self.create_subscription(request).boxed()
    }

    fn subscription_canceled<'a>(
        &'a self, provider_subscription_id: &'a str, immediately: bool,
    ) -> BoxFuture<'a, Result<(), ToolError>> {
        self.cancel(provider_subscription_id, immediately).boxed()
    }

    fn subscription_repriced<'a>(
        &'a self, provider_subscription_id: &'a str, provider_price_id: &'a str,
        proration: Proration,
    ) -> BoxFuture<'a, Result<(), ToolError>> {
        self.reprice(provider_subscription_id, provider_price_id, proration)
            .boxed()
    }
}
