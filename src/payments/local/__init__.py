"""The local runtime: stands the stack in `template.yaml` up on one machine, with no AWS account."""
