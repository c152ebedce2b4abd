//! Deterministic generator of realistic IAM identity policies for benchmarks and the Parliament
//! comparison (fixed seed; shared by `benches/scan.rs` and `examples/gen_policies.rs`).

/// xorshift64* — tiny, deterministic, dependency-free.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, v: &'a [&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:*",
    "s3:Get*",
    "s3:DeleteObject",
    "s3:PutBucketPolicy",
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:*",
    "dynamodb:Scan",
    "lambda:InvokeFunction",
    "lambda:UpdateFunctionCode",
    "lambda:CreateFunction",
    "lambda:*",
    "lambda:Get*",
    "iam:PassRole",
    "iam:CreatePolicyVersion",
    "iam:AttachRolePolicy",
    "iam:GetRole",
    "iam:List*",
    "iam:*",
    "ec2:RunInstances",
    "ec2:Describe*",
    "ec2:*",
    "sts:AssumeRole",
    "sts:GetCallerIdentity",
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:*",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "ssm:GetParametersByPath",
    "bedrock:InvokeModel",
    "bedrock:InvokeAgent",
    "bedrock:Retrieve",
    "bedrock:UpdateAgentActionGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "cloudwatch:PutMetricData",
    "sqs:SendMessage",
    "sns:Publish",
    "ecr:GetAuthorizationToken",
    "glue:UpdateDevEndpoint",
    "cloudformation:CreateStack",
    "s3:GetObjekt",
    "foo:Bar",
];

const RESOURCES: &[&str] = &[
    "*",
    "*",
    "*",
    "arn:aws:s3:::app-data/*",
    "arn:aws:s3:::app-data",
    "arn:aws:dynamodb:us-east-1:111122223333:table/orders",
    "arn:aws:lambda:us-east-1:111122223333:function:tool-*",
    "arn:aws:iam::111122223333:role/app-*",
    "arn:aws:kms:us-east-1:111122223333:key/0d6f6a0e-1111-2222-3333-444455556666",
    "arn:aws:secretsmanager:us-east-1:111122223333:secret:app/*",
    "arn:aws:bedrock:us-east-1::foundation-model/*",
    "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/*",
];

const CONDITIONS: &[&str] = &[
    r#""Condition":{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}"#,
    r#""Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    r#""Condition":{"StringEquals":{"iam:PassedToService":"lambda.amazonaws.com"}}"#,
    r#""Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
    r#""Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team"]}}"#,
];

/// One policy document (JSON text) for index `i`.
pub fn policy(rng: &mut Rng, i: usize) -> String {
    let n = 1 + rng.below(6);
    let mut stmts = Vec::with_capacity(n);
    for s in 0..n {
        let effect = if rng.below(10) == 0 { "Deny" } else { "Allow" };
        let k = 1 + rng.below(4);
        let acts: Vec<String> = (0..k)
            .map(|_| format!("\"{}\"", rng.pick(ACTIONS)))
            .collect();
        let action_key = if rng.below(25) == 0 {
            "NotAction"
        } else {
            "Action"
        };
        let res_key = if rng.below(40) == 0 {
            "NotResource"
        } else {
            "Resource"
        };
        let res = if rng.below(50) == 0 {
            "\"*\"".to_string()
        } else {
            format!("\"{}\"", rng.pick(RESOURCES))
        };
        let cond = if rng.below(5) == 0 {
            format!(",{}", rng.pick(CONDITIONS))
        } else {
            String::new()
        };
        stmts.push(format!(
            r#"{{"Sid":"S{i}x{s}","Effect":"{effect}","{action_key}":[{}],"{res_key}":{res}{cond}}}"#,
            acts.join(",")
        ));
    }
    let version = if rng.below(30) == 0 {
        String::new()
    } else {
        r#""Version":"2012-10-17","#.to_string()
    };
    format!("{{{version}\"Statement\":[{}]}}\n", stmts.join(","))
}

/// Writes `n` policies into `dir` as `policy-00000.json` …; returns the number of bytes written.
pub fn write_set(dir: &std::path::Path, n: usize, seed: u64) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(seed);
    let mut bytes = 0u64;
    for i in 0..n {
        let p = policy(&mut rng, i);
        bytes += p.len() as u64;
        std::fs::write(dir.join(format!("policy-{i:05}.json")), p)?;
    }
    Ok(bytes)
}

/// The seed used for every published figure.
pub const SEED: u64 = 0x5EED_2026;
