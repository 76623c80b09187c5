# The outputs icsrange reads (the module contract).

output "plcs" {
  description = "team => plc => {modbus, mgmt}: where trainees and the engine reach each PLC."
  value = {
    for team in var.teams : team => {
      for s in local.slots : s.plc.id => {
        modbus = "${local.modbus_host[s.group]}:${s.modbus}"
        mgmt   = "${local.mgmt_host[s.group]}:${s.mgmt}"
      } if s.team == team
    }
  }
}

output "hosts" {
  description = "team => host => address. Hosts are logical here: icsrange plays their traffic from the engine."
  value = {
    for team in var.teams : team => { for h in var.hosts : h.id => h.address }
  }
}

# Beyond the contract: the instances, for the instructor.

output "instances" {
  description = "One entry per instance: its id, addresses and teams."
  value = [
    for g, i in aws_instance.plant : {
      id         = i.id
      public_ip  = i.public_ip
      private_ip = i.private_ip
      teams      = local.groups[g]
    }
  ]
}
