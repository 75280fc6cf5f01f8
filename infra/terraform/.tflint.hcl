# tflint (v0.64.0, built from the Go module proxy by scripts/go-tool.sh) with its bundled
# terraform ruleset at preset "all". tflint-ruleset-aws cannot be had offline (GitHub releases);
# the AWS side is covered by the provider-schema check (tests/support/terraform_checks.py),
# checkov and trivy. Run: tests/deploy/test_terraform_lint.py (make terraform-check).
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
