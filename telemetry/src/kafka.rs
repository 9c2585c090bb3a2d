//! Consumer metrics and readiness from the Kafka client's callbacks.

use rdkafka::statistics::Statistics;

use super::{component, health, name};

/// The readiness condition the consumers report.
const CONDITION: &str = "kafka";

/// The consumer has not joined its group yet; called before subscribing.
pub fn joining() {
    health::not_ready(CONDITION, "waiting to join the consumer group");
}

/// A rebalance gave this member its partitions (possibly none: more members
/// than partitions is a healthy, idle member).
pub fn assigned(partitions: usize) {
    health::ready(CONDITION);
    metrics::gauge!(name("assigned_partitions")).set(partitions as f64);
}

/// Consumer lag per partition from librdkafka's periodic statistics: the
/// high watermark minus the stored offset for the processor (what it has
/// finished), minus the committed offset for the others (the sink commits
/// by hand, the gateway's status consumer commits what it stored).
pub fn statistics(statistics: &Statistics) {
    let stored = component() == "processor";
    for (topic_name, topic) in &statistics.topics {
        for partition in topic.partitions.values() {
            // -1 is librdkafka's internal "unassigned" partition.
            if partition.partition < 0 {
                continue;
            }
            let lag = if stored {
                partition.consumer_lag_stored
            } else {
                partition.consumer_lag
            };
            // -1 until an offset is known, and for partitions no longer
            // assigned: nothing this member owes.
            metrics::gauge!(
                name("consumer_lag_messages"),
                "topic" => topic_name.clone(),
                "partition" => partition.partition.to_string(),
            )
            .set(lag.max(0) as f64);
        }
    }
}
