DROP TABLE security_signals;
DROP TABLE security_alerts;
