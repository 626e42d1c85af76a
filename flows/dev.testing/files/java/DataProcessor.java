import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Aggregates a sales CSV (order_id,region,product,quantity,unit_price) into revenue per product.
 *
 * <p>Run by the dev.testing/java_namespace_file flow as a namespace file:
 * {@code java DataProcessor <input.csv> <output.csv>}. Prints Kestra's {@code ::{"outputs": ...}::}
 * line so the totals become task outputs.
 */
public class DataProcessor {

    /** Units and revenue of one product. */
    record ProductTotal(String product, long units, double revenue) {
        ProductTotal add(long moreUnits, double moreRevenue) {
            return new ProductTotal(product, units + moreUnits, revenue + moreRevenue);
        }
    }

    static Map<String, ProductTotal> aggregate(List<String> lines) {
        if (lines.isEmpty()) {
            throw new IllegalArgumentException("input is empty: a header line is required");
        }
        List<String> header = List.of(lines.get(0).trim().split(","));
        int product = column(header, "product");
        int quantity = column(header, "quantity");
        int unitPrice = column(header, "unit_price");

        Map<String, ProductTotal> totals = new TreeMap<>();
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i).trim();
            if (line.isEmpty()) {
                continue;
            }
            String[] fields = line.split(",");
            if (fields.length < header.size()) {
                throw new IllegalArgumentException("line " + (i + 1) + " has " + fields.length
                    + " fields, expected " + header.size());
            }
            long units = Long.parseLong(fields[quantity].trim());
            double revenue = units * Double.parseDouble(fields[unitPrice].trim());
            totals.merge(fields[product].trim(), new ProductTotal(fields[product].trim(), units, revenue),
                (a, b) -> a.add(b.units(), b.revenue()));
        }
        return totals;
    }

    private static int column(List<String> header, String name) {
        int index = header.indexOf(name);
        if (index < 0) {
            throw new IllegalArgumentException("missing column '" + name + "' in header " + header);
        }
        return index;
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: java DataProcessor <input.csv> <output.csv>");
            System.exit(2);
        }
        Map<String, ProductTotal> totals = aggregate(Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8));

        List<ProductTotal> rows = new ArrayList<>(totals.values());
        rows.sort((a, b) -> Double.compare(b.revenue(), a.revenue()));
        double grandTotal = 0;
        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(Path.of(args[1]), StandardCharsets.UTF_8))) {
            out.println("product,units,revenue");
            for (ProductTotal row : rows) {
                out.printf(Locale.ROOT, "%s,%d,%.2f%n", row.product(), row.units(), row.revenue());
                grandTotal += row.revenue();
            }
        }
        for (ProductTotal row : rows) {
            System.out.printf(Locale.ROOT, "%-12s %6d %10.2f%n", row.product(), row.units(), row.revenue());
        }
        System.out.printf(Locale.ROOT, "::{\"outputs\": {\"products\": %d, \"total_revenue\": %.2f}}::%n",
            rows.size(), grandTotal);
    }
}
