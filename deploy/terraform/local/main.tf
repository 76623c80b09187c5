# icsrange "local" module: every team's PLCs as `icsrange plc` processes on
# the machine that runs Terraform. It needs no provider (terraform_data and
# local-exec are built in), so it works offline; icsrange's tests use it.
#
# Module contract: see docs/terraform.md. Inputs every icsrange module takes
# are in variables.tf; outputs in outputs.tf.

terraform {
  required_version = ">= 1.4"
}

locals {
  instances = {
    for pair in setproduct(var.teams, var.plcs) :
    "${pair[0]}/${pair[1].id}" => {
      team  = pair[0]
      plc   = pair[1]
      ports = var.ports["${pair[0]}/${pair[1].id}"]
      name  = replace("${pair[0]}_${pair[1].id}", "/[^A-Za-z0-9_.-]/", "_")
    }
  }
}

resource "terraform_data" "plc" {
  for_each = local.instances

  # Destroy-time provisioners may only read self, so what they need lives
  # in input.
  input = {
    pidfile = "${var.work_dir}/${each.value.name}.pid"
    logfile = "${var.work_dir}/${each.value.name}.log"
    # `icsrange plc`, where it listens and its token, then what icsrange
    # rendered (var.plc_args); each argument quoted for the shell.
    args = join(" ", [
      for a in concat([
        "plc",
        "--listen=${var.bind_address}:${each.value.ports.modbus}",
        "--mgmt=127.0.0.1:${each.value.ports.mgmt}",
        "--token-file=${var.mgmt_token_file}",
      ], var.plc_args[each.key]) : "'${replace(a, "'", "'\\''")}'"
    ])
  }

  provisioner "local-exec" {
    command = "nohup '${var.icsrange_binary}' ${self.input.args} > '${self.input.logfile}' 2>&1 & echo $! > '${self.input.pidfile}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "if [ -f '${self.input.pidfile}' ]; then kill \"$(cat '${self.input.pidfile}')\" 2>/dev/null; rm -f '${self.input.pidfile}'; fi; true"
  }
}
