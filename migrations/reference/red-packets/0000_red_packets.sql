CREATE TABLE "red_packets" (
	"id" text PRIMARY KEY NOT NULL,
	"order_id" text NOT NULL,
	"account_id" text NOT NULL,
	"amount" bigint NOT NULL,
	"status" text NOT NULL,
	"version" integer NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "red_packets_amount_check" CHECK ("red_packets"."amount" > 0),
	CONSTRAINT "red_packets_status_check" CHECK ("red_packets"."status" in ('CREATED', 'PAID', 'CANCELLED'))
);
--> statement-breakpoint
ALTER TABLE "red_packets" ADD CONSTRAINT "red_packets_order_id_orders_id_fk" FOREIGN KEY ("order_id") REFERENCES "public"."orders"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "red_packets" ADD CONSTRAINT "red_packets_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "red_packets_one_live_per_order" ON "red_packets" USING btree ("order_id") WHERE "red_packets"."status" <> 'CANCELLED';