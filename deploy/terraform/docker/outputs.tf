# The outputs icsrange reads (the module contract).

output "plcs" {
  description = "team => plc => {modbus, mgmt}: where trainees and the engine reach each PLC."
  value = {
    for team in var.teams : team => {
      for key, c in docker_container.plc : local.instances[key].plc.id => {
        modbus = "${local.modbus_host}:${local.instances[key].ports.modbus}"
        mgmt   = "${local.mgmt_host}:${local.instances[key].ports.mgmt}"
      } if local.instances[key].team == team
    }
  }
}

output "hosts" {
  description = "team => host => address. Hosts are logical here: icsrange plays their traffic from the engine."
  value = {
    for team in var.teams : team => { for h in var.hosts : h.id => h.address }
  }
}

# Beyond the contract: the networks, to attach more containers (an attacker
# box, an HMI) to a team's zone. Whatever joins a zone network can reach
# every PLC's management API on port 9020 there: keep trainees off them or
# filter that port.

output "networks" {
  description = "team => zone => Docker network name."
  value = {
    for team in var.teams : team => {
      for key, n in docker_network.zone : local.networks[key].zone => n.name if local.networks[key].team == team
    }
  }
}
