-- The application's own tables, applied by src/migrate.ts next to oncely's migrations (oncely.migrate()).
-- Entity tables the processor writes need a text id, an integer version and updated_at.

-- Stock per SKU: units on hand and units reserved by live reservations.
CREATE TABLE stock_items (
  id text PRIMARY KEY,
  on_hand integer NOT NULL CHECK (on_hand >= 0),
  reserved integer NOT NULL CHECK (reserved >= 0 AND reserved <= on_hand),
  version integer NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now()
);

-- The shop's orders: written by the shop's own HTTP handler, in the same transaction as its commands.
CREATE TABLE shop_orders (
  id text PRIMARY KEY,
  sku text NOT NULL,
  quantity integer NOT NULL,
  status text NOT NULL CHECK (status IN ('PLACED', 'CANCELLED')),
  version integer NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now()
);

CREATE TABLE reservations (
  id text PRIMARY KEY,
  order_id text NOT NULL REFERENCES shop_orders (id),
  sku text NOT NULL REFERENCES stock_items (id),
  quantity integer NOT NULL CHECK (quantity > 0),
  status text NOT NULL CHECK (status IN ('RESERVED', 'RELEASED')),
  version integer NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now()
);

-- The business key: at most one live reservation per order, whatever the command ids. The reserve
-- command's lock on the order is what serialises reservations; this index is the last line of defence.
CREATE UNIQUE INDEX reservations_one_live_per_order ON reservations (order_id) WHERE status = 'RESERVED';
