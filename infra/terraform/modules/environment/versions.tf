terraform {
  # Pure-logic module: no provider, so `terraform validate` and `terraform test`
  # run offline (see tests/deploy/test_terraform.py).
  required_version = ">= 1.10.0"
}
