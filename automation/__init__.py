"""Automation: Ansible playbooks run through ansible-runner, and the cloud steps that use them."""
