# The outputs icsrange reads (the module contract).

output "plcs" {
  description = "team => plc => {modbus, mgmt}: where trainees and the engine reach each PLC."
  value = {
    for team in var.teams : team => {
      for key, inst in local.instances : inst.plc.id => {
        modbus = "${var.bind_address == "0.0.0.0" ? "127.0.0.1" : var.bind_address}:${inst.ports.modbus}"
        mgmt   = "127.0.0.1:${inst.ports.mgmt}"
      } if inst.team == team
    }
  }
}

output "hosts" {
  description = "team => host => address. Hosts are logical here: icsrange plays their traffic from the engine."
  value = {
    for team in var.teams : team => { for h in var.hosts : h.id => h.address }
  }
}
