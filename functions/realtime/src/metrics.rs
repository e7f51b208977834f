//! Delivery metrics for the stack's dashboard, in CloudWatch's embedded
//! metric format (EMF): one JSON line per delivery on standard output, which
//! Lambda sends to CloudWatch Logs and CloudWatch turns into metrics
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html>).
//! No API call is made on a delivery's path and no permission is needed
//! beyond writing logs.
//!
//! A line is written only inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set),
//! so the local stack's own log stays readable; `make watch` runs the
//! functions as Lambda does and writes them.

use std::io::Write as _;
use std::time::Duration;

// What one push did: the fan-out's `Delivery`, named from the domain so
// this module imports nothing of the fan-out that calls it.
use chat_domain::ports::Pushed as Delivery;
use serde_json::{json, Value};

/// The metrics' namespace, which the template's dashboard reads.
pub const NAMESPACE: &str = "Chat/Delivery";

/// The metrics of one delivery (a row to every subscriber of its topic,
/// relayed posts included), as one EMF record with the function's name
/// as its dimension.
pub fn record(function: &str, delivery: &Delivery, took: Duration, now_ms: i64) -> Value {
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": [
                    { "Name": "Deliveries", "Unit": "Count" },
                    { "Name": "FailedPosts", "Unit": "Count" },
                    { "Name": "GoneConnections", "Unit": "Count" },
                    { "Name": "RelayedPosts", "Unit": "Count" },
                    { "Name": "DeliveryLatency", "Unit": "Milliseconds" },
                ],
            }],
        },
        "Function": function,
        "Deliveries": delivery.sent,
        "FailedPosts": delivery.failed,
        "GoneConnections": delivery.gone,
        "RelayedPosts": delivery.relayed,
        "DeliveryLatency": took.as_secs_f64() * 1000.0,
    })
}

/// Writes `delivery`'s record, inside Lambda; a delivery that reached
/// nobody is not one.
pub fn emit(delivery: &Delivery, took: Duration) {
    if delivery.reached_nobody() {
        return;
    }
    let Some(function) = function_name() else {
        return;
    };
    let line = record(function, delivery, took, crate::clock::now_ms());
    // One write of one line: Lambda makes each line one log event.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// This Lambda function's name, read once per execution environment; none
/// outside Lambda.
fn function_name() -> Option<&'static str> {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok())
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_valid_emf_naming_each_metric_it_carries() {
        let delivery = Delivery {
            sent: 7,
            gone: 2,
            failed: 1,
            relayed: 3,
        };
        let r = record(
            "create-message",
            &delivery,
            Duration::from_micros(12_500),
            1_700_000_000_000,
        );
        let directive = &r["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(r["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], NAMESPACE);
        // Every dimension and metric the directive names is a member of the
        // record, as the specification requires.
        for dimension in directive["Dimensions"][0].as_array().unwrap() {
            assert!(r[dimension.as_str().unwrap()].is_string());
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 5);
        for metric in metrics {
            assert!(r[metric["Name"].as_str().unwrap()].is_number(), "{metric}");
        }
        assert_eq!(r["Deliveries"], 7);
        assert_eq!(r["GoneConnections"], 2);
        assert_eq!(r["FailedPosts"], 1);
        assert_eq!(r["RelayedPosts"], 3);
        assert_eq!(r["DeliveryLatency"], 12.5);
        // One line: no newline inside the record.
        assert!(!r.to_string().contains('\n'));
    }
}
