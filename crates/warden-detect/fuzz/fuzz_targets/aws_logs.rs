//! Fuzz target: VPC Flow Log, Route 53 Resolver log and Warden egress readers over arbitrary
//! text never panic; lenient mode accounts for every non-blank line, and conversion succeeds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_detect::{
    aws_to_egress, parse_egress_events, parse_resolver_query_logs, parse_vpc_flow_logs,
    AwsAttribution, ParseMode,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_vpc_flow_logs(text, ParseMode::Strict);
    let _ = parse_resolver_query_logs(text, ParseMode::Strict);
    let _ = parse_egress_events(text, ParseMode::Strict);
    let _ = parse_egress_events(text, ParseMode::Lenient);
    let flows = parse_vpc_flow_logs(text, ParseMode::Lenient).expect("lenient never fails");
    let queries = parse_resolver_query_logs(text, ParseMode::Lenient).expect("lenient never fails");
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(queries.records.len() + queries.warnings.len() == lines);
    assert!(flows.records.len() + flows.warnings.len() <= lines);
    let _ = aws_to_egress(&flows.records, &queries.records, &AwsAttribution::default());
});
