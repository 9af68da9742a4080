# GKE node pools for ragplane (the gpu-tp2 scenario): an LLM pool of A3 nodes with H100 GPUs for Triton
# (tensor parallel 2 = 2 GPUs per replica, so a3-highgpu-2g holds one replica) and a small L4 pool for the
# encoders (embed, rerank: one GPU each). CPU services stay on the cluster's default pool.
#
# GKE taints GPU nodes with nvidia.com/gpu=present:NoSchedule and labels them cloud.google.com/gke-nodepool,
# which is what the scenario's tolerations and nodeSelectors match. GKE installs the driver
# (gpu_driver_installation_config); to run the NVIDIA GPU operator instead, set gpu_driver_version to
# "INSTALLATION_DISABLED" and use infra/gpu-operator/values-gke.yaml.

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
  }
}

variable "project" {
  type        = string
  description = "GCP project of the cluster."
}

variable "location" {
  type        = string
  description = "Region or zone of the cluster; the node locations below must offer the GPUs."
}

variable "cluster" {
  type        = string
  description = "Name of the existing GKE cluster."
}

variable "llm_node_locations" {
  type        = list(string)
  description = "Zones with H100 capacity for the LLM pool."
}

variable "llm_max_nodes" {
  type        = number
  default     = 4
  description = "Upper bound of the LLM pool (each node holds one tensor-parallel group of 2 GPUs)."
}

variable "gpu_driver_version" {
  type        = string
  default     = "LATEST"
  description = "GKE-managed driver: DEFAULT, LATEST, or INSTALLATION_DISABLED when the GPU operator installs it."
}

resource "google_container_node_pool" "llm_h100" {
  project        = var.project
  location       = var.location
  cluster        = var.cluster
  name           = "llm-h100"
  node_locations = var.llm_node_locations

  autoscaling {
    total_min_node_count = 0
    total_max_node_count = var.llm_max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type = "a3-highgpu-2g"
    disk_type    = "pd-ssd"
    disk_size_gb = 500

    guest_accelerator {
      type  = "nvidia-h100-80gb"
      count = 2
      gpu_driver_installation_config {
        gpu_driver_version = var.gpu_driver_version
      }
    }

    labels = {
      "ragplane.io/pool" = "llm"
    }

    # Engines are read from a PVC; local SSDs hold the copies of the object-store source.
    ephemeral_storage_local_ssd_config {
      local_ssd_count = 2
    }

    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot = true
    }
  }
}

resource "google_container_node_pool" "encoders_l4" {
  project  = var.project
  location = var.location
  cluster  = var.cluster
  name     = "encoders-l4"

  autoscaling {
    total_min_node_count = 1
    total_max_node_count = 6
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type = "g2-standard-8"
    disk_type    = "pd-balanced"
    disk_size_gb = 200

    guest_accelerator {
      type  = "nvidia-l4"
      count = 1
      gpu_driver_installation_config {
        gpu_driver_version = var.gpu_driver_version
      }
    }

    labels = {
      "ragplane.io/pool" = "encoders"
    }

    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot = true
    }
  }
}
