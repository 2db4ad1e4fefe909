DROP TABLE usage_events;
DROP TABLE subscriptions;
DROP TABLE prices;
DROP TABLE plans;
