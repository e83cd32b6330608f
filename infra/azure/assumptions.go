package azure

// Assumed, to check on a live run (the documentation leaves these open):
//   - Ubuntu 24.04's docker.io keeps the DOCKER-USER chain and the rules in
//     it across a restart of dockerd, and sends a container's traffic to
//     169.254.169.254 and 168.63.129.16 through FORWARD (so DOCKER-USER);
//     stayup-metadata-block.service (BindsTo and WantedBy docker.service)
//     runs again after systemd restarts a crashed dockerd too.
//   - A change of the scale set's identity is a model change, which Rolling
//     mode rolls to every VM: the program leaves a deployed identity alone
//     (ignoreChanges) rather than remove it.
//   - Network Watcher writes VNet flow logs into a storage account that
//     denies every network, through the AzureServices bypass, with no
//     managed identity on the flow log and shared-key access on.
//   - Where the first up creates the region's Network Watcher while Azure
//     creates its own after the new virtual network, one of the two creates
//     fails (one per region per subscription); the next up pins the one
//     that exists.
//   - Reading the gateway's backend health takes 10 to 30 s
//     (fleet/azure.BackendHealthEvery is sized for that).
