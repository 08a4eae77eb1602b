"""The built-in lab: real protocol peers on loopback that stand in for the extranet and the cloud."""
