//! The SAM template's HTTP functions — each one's events, environment and
//! IAM policy, derived from its declaration — and every function's log
//! group. The rest of the template (table, APIs, queues, stream functions,
//! alarms) is written by hand around the generated regions.

use tether::routes::{self, Endpoint};

const FUNCTIONS_BEGIN: &str = "# BEGIN generated functions";
const FUNCTIONS_END: &str = "# END generated functions";
const LOGS_BEGIN: &str = "# BEGIN generated log groups";
const LOGS_END: &str = "# END generated log groups";

/// `create-end-user` → `CreateEndUserFunction`.
pub fn resource(function: &str) -> String {
    let mut name: String = function
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect();
    name.push_str("Function");
    name
}

fn ssm(parameter: &str) -> String {
    format!(
        "            - Effect: Allow\n              Action: [ssm:GetParameter]\n              Resource: !Sub \"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{parameter}\"\n"
    )
}

/// One HTTP function's resource.
fn function(endpoint: &Endpoint) -> String {
    let name = endpoint.function;
    let mut out = format!(
        "  {}:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildMethod: rust-cargolambda\n      BuildProperties:\n        Binary: {name}\n    Properties:\n      CodeUri: ..\n",
        resource(name)
    );
    let mut variables = Vec::new();
    if endpoint.needs.token_keys {
        variables.push("TETHER_TOKEN_SIGNING_KEY_PARAMETER: !Ref TokenSigningKeyParameter");
        variables.push("TETHER_TOKEN_KEY_GENERATION: !Ref TokenKeyGeneration");
    }
    if endpoint.needs.webhook_key {
        variables.push("TETHER_WEBHOOK_KEY_PARAMETER: !Ref WebhookKeyParameter");
        variables.push("TETHER_WEBHOOK_KEY_GENERATION: !Ref WebhookKeyGeneration");
    }
    if endpoint.needs.delivery_queue {
        variables.push("TETHER_DELIVERY_QUEUE_URL: !Ref DeliveryQueue");
    }
    if !variables.is_empty() {
        out.push_str("      Environment:\n        Variables:\n");
        for variable in variables {
            out.push_str(&format!("          {variable}\n"));
        }
    }
    let resource = if endpoint.reads_indexes() {
        "[!GetAtt Table.Arn, !Sub \"${Table.Arn}/index/*\"]"
    } else {
        "!GetAtt Table.Arn"
    };
    out.push_str(&format!(
        "      Policies:\n        - Statement:\n            - Effect: Allow\n              Action: [{}]\n              Resource: {resource}\n",
        endpoint.dynamodb_actions().join(", ")
    ));
    if endpoint.needs.token_keys {
        out.push_str(&ssm("${TokenSigningKeyParameter}"));
    }
    if endpoint.needs.webhook_key {
        out.push_str(&ssm("${WebhookKeyParameter}"));
    }
    if endpoint.method == "POST" {
        out.push_str(&ssm("${IdempotencyKeyParameter}"));
    }
    if endpoint.needs.own_hostnames {
        out.push_str(&ssm("/tether/${Stage}/own-hostnames"));
    }
    if endpoint.needs.delivery_queue {
        out.push_str("            - Effect: Allow\n              Action: [sqs:SendMessage]\n              Resource: !GetAtt DeliveryQueue.Arn\n");
    }
    let route = |api: &str| {
        if *endpoint == routes::NOT_FOUND {
            return format!("{{ ApiId: !Ref {api}, Method: ANY, Path: $default }}");
        }
        let path = if endpoint.path.contains('{') {
            format!("\"{}\"", endpoint.path)
        } else {
            endpoint.path.to_owned()
        };
        format!(
            "{{ ApiId: !Ref {api}, Method: {}, Path: {path} }}",
            endpoint.method
        )
    };
    out.push_str(&format!(
        "      Events:\n        Api:\n          Type: HttpApi\n          Properties: {}\n",
        route("HttpApi")
    ));
    // The user API and the JWKS are also served by the API that answers
    // browsers' CORS preflights (SPEC §10).
    if endpoint.browser {
        out.push_str(&format!(
            "        Browser:\n          Type: HttpApi\n          Properties: {}\n",
            route("UserApi")
        ));
    }
    out
}

fn log_group(function: &str) -> String {
    let resource = resource(function);
    format!(
        "  {resource}Logs:\n    Type: AWS::Logs::LogGroup\n    DeletionPolicy: Delete\n    UpdateReplacePolicy: Delete\n    Properties:\n      LogGroupName: !Sub \"/aws/lambda/${{{resource}}}\"\n      RetentionInDays: !Ref LogRetentionDays\n"
    )
}

/// The template with its generated regions written.
pub fn template(current: &str) -> Result<String, String> {
    let functions: Vec<String> = crate::functions::endpoints().map(function).collect();
    let text = crate::replace_region(
        current,
        FUNCTIONS_BEGIN,
        FUNCTIONS_END,
        &format!("{}\n", functions.join("\n")),
    )?;
    let logs: Vec<String> = crate::functions::endpoints()
        .map(|e| e.function)
        .chain(routes::EVENT_FUNCTIONS.iter().map(|f| f.name))
        .map(log_group)
        .collect();
    crate::replace_region(
        &text,
        LOGS_BEGIN,
        LOGS_END,
        &format!("{}\n", logs.join("\n")),
    )
}
