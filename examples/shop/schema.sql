-- The sample shop's catalogue, stock and orders. `stock >= 0` is the database's own guard; the purchase
-- path also takes the row lock (SELECT ... FOR UPDATE), so two buyers of the last unit serialize.
DROP TABLE IF EXISTS orders;
DROP TABLE IF EXISTS inventory;
DROP TABLE IF EXISTS products;

CREATE TABLE products (
    id          integer PRIMARY KEY,
    name        text    NOT NULL,
    category    text    NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents > 0),
    description text    NOT NULL
);
CREATE INDEX products_category ON products (category);

CREATE TABLE inventory (
    product_id    integer PRIMARY KEY REFERENCES products (id),
    initial_stock integer NOT NULL,
    stock         integer NOT NULL CHECK (stock >= 0)
);

CREATE TABLE orders (
    id         bigserial   PRIMARY KEY,
    product_id integer     NOT NULL REFERENCES products (id),
    qty        integer     NOT NULL CHECK (qty > 0),
    client     text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_product ON orders (product_id);

-- 2,000 products in 20 categories; the first 20 are the doorbusters, with little stock, so the sale
-- sells them out under concurrent buyers.
INSERT INTO products (id, name, category, price_cents, description)
SELECT i,
       (ARRAY['lamp','kettle','headphones','jacket','blender','monitor','sneakers','backpack','camera','speaker'])[1 + i % 10]
           || ' ' || (ARRAY['pro','lite','max','mini','classic','sport','air','one'])[1 + (i / 10) % 8] || ' ' || i,
       'category-' || (i % 20),
       999 + (i * 7919) % 50000,
       repeat('A fine product. ', 8)
FROM generate_series(1, 2000) AS i;

INSERT INTO inventory (product_id, initial_stock, stock)
SELECT id, CASE WHEN id <= 20 THEN 40 ELSE 100000 END, CASE WHEN id <= 20 THEN 40 ELSE 100000 END
FROM products;
