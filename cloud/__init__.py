"""The government OpenStack cloud: departments as projects, quotas, VMs, declarative batches."""
