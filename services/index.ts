/** Every service of the product by name; `SERVICES` picks which of them a node runs. */
import type { ServiceSchema } from "moleculer";
import type { ServiceName } from "../config/env";
import api from "./api/api.service";
import products from "./products/products.service";
import inventory from "./inventory/inventory.service";
import purchases from "./purchases/purchases.service";
import audit from "./audit/audit.service";

export const SERVICE_SCHEMAS: Record<ServiceName, ServiceSchema> = { api, products, inventory, purchases, audit };
