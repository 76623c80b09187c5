# icsrange "docker" module: every team's PLCs as containers of the icsrange
# image on one Docker host.
#
# Per team:
#   - one bridge network per zone the PLCs live in ("<prefix>-<team>-zone-<zone>");
#     zones in var.internal_zones (default: control) are internal networks,
#     with no route off the Docker host;
#   - one "ports" bridge network every PLC of the team also joins. Docker
#     publishes no ports for a container that is only on internal networks
#     (moby/moby#36174), so the published Modbus and mgmt ports ride on this
#     one. Inter-container traffic on it is off (enable_icc=false): PLCs
#     still only talk to each other over their zone networks;
#   - one container per PLC running `/icsrange plc --clock engine`.
#
# The containers run as nobody with no capabilities; the management token is
# uploaded into each container before it starts (read from the token file on
# the machine running Terraform, so it works with a remote docker_host too).
#
# Module contract: see docs/terraform.md. Inputs every icsrange module takes
# are in variables.tf; outputs in outputs.tf.

terraform {
  required_version = ">= 1.4"
  required_providers {
    docker = {
      source = "kreuzwerker/docker"
      # 3.2 added upload.permissions; 3.1 added cpus.
      version = "~> 3.2"
    }
  }
}

provider "docker" {
  # null falls back to DOCKER_HOST, then the local socket.
  host = var.docker_host
}

locals {
  prefix = "icsrange-${replace(var.exercise_id, "/[^A-Za-z0-9_.-]/", "_")}"
  zones  = distinct([for p in var.plcs : p.zone])

  # One network per team per zone, keyed "team/zone".
  networks = {
    for pair in setproduct(var.teams, local.zones) :
    "${pair[0]}/${pair[1]}" => {
      team     = pair[0]
      zone     = pair[1]
      name     = "${local.prefix}-${pair[0]}-zone-${pair[1]}"
      internal = contains(var.internal_zones, pair[1])
    }
  }

  # One container per team per PLC, keyed "team/plc" like var.ports.
  instances = {
    for pair in setproduct(var.teams, var.plcs) :
    "${pair[0]}/${pair[1].id}" => {
      team  = pair[0]
      plc   = pair[1]
      ports = var.ports["${pair[0]}/${pair[1].id}"]
      name  = "${local.prefix}-${pair[0]}-${pair[1].id}"
    }
  }

  # Where the engine and trainees dial the published ports.
  modbus_host = coalesce(var.advertise_address, var.publish_address == "0.0.0.0" ? "127.0.0.1" : var.publish_address)
  mgmt_host   = var.mgmt_publish_address == "0.0.0.0" ? "127.0.0.1" : var.mgmt_publish_address

  # Where the token file lands inside each container.
  token_path = "/run/icsrange/mgmt.token"
}

resource "docker_network" "zone" {
  for_each = local.networks

  name     = each.value.name
  driver   = "bridge"
  internal = each.value.internal

  labels {
    label = "icsrange.exercise"
    value = var.exercise_id
  }
  labels {
    label = "icsrange.team"
    value = each.value.team
  }
  labels {
    label = "icsrange.zone"
    value = each.value.zone
  }
  labels {
    label = "icsrange.role"
    value = "zone"
  }
}

resource "docker_network" "ports" {
  for_each = toset(var.teams)

  name   = "${local.prefix}-${each.key}-ports"
  driver = "bridge"
  options = {
    "com.docker.network.bridge.enable_icc" = "false"
  }

  labels {
    label = "icsrange.exercise"
    value = var.exercise_id
  }
  labels {
    label = "icsrange.team"
    value = each.key
  }
  labels {
    label = "icsrange.role"
    value = "ports"
  }
}

resource "docker_container" "plc" {
  for_each = local.instances

  name     = each.value.name
  image    = var.image
  hostname = each.value.plc.id

  entrypoint = ["/icsrange"]
  # Where it listens and its token, then what icsrange rendered
  # (var.plc_args).
  command = concat([
    "plc",
    "--listen=0.0.0.0:502",
    "--mgmt=0.0.0.0:9020",
    "--token-file=${local.token_path}",
  ], var.plc_args[each.key])

  # A PLC that restarted would come back at its initial state behind the
  # engine's back; better it stays down and the engine reports it.
  restart  = "no"
  must_run = true

  # nobody, no capabilities. Port 502 is below 1024: let unprivileged
  # processes bind it inside the container's own network namespace.
  user = "65534:65534"
  sysctls = {
    "net.ipv4.ip_unprivileged_port_start" = "0"
  }
  capabilities {
    drop = ["ALL"]
  }
  security_opts = ["no-new-privileges:true"]
  memory        = var.memory_mb
  cpus          = var.cpus

  # The provider reads the token file on the machine running Terraform (the
  # engine's) and copies it in before the container starts, so it works
  # with a remote docker_host too. With source (not content) the token does
  # not land in the Terraform state.
  upload {
    file        = local.token_path
    source      = var.mgmt_token_file
    source_hash = filesha256(var.mgmt_token_file)
    permissions = "0444"
  }

  networks_advanced {
    name = docker_network.ports[each.value.team].name
  }
  networks_advanced {
    name    = docker_network.zone["${each.value.team}/${each.value.plc.zone}"].name
    aliases = [each.value.plc.id]
  }

  # Modbus for trainees, on publish_address, at the port icsrange picked.
  ports {
    internal = 502
    external = each.value.ports.modbus
    ip       = var.publish_address
  }

  # The management API is for the engine only. icsrange runs Terraform and
  # the engine on the same machine, and with a local Docker daemon that is
  # the Docker host: publishing on 127.0.0.1 lets the engine reach every
  # PLC's API at 127.0.0.1:<var.ports[key].mgmt> while nothing off the host
  # can (the port icsrange picked was free on 127.0.0.1 there). With a
  # remote docker_host, set mgmt_publish_address to an address of that host
  # the engine can reach and firewall it to the engine.
  ports {
    internal = 9020
    external = each.value.ports.mgmt
    ip       = var.mgmt_publish_address
  }

  labels {
    label = "icsrange.exercise"
    value = var.exercise_id
  }
  labels {
    label = "icsrange.team"
    value = each.value.team
  }
  labels {
    label = "icsrange.plc"
    value = each.value.plc.id
  }
  labels {
    label = "icsrange.role"
    value = "plc"
  }
}
