package com.example;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Per-region statistics of a sales CSV (order_id,region,product,quantity,unit_price).
 *
 * <p>Packaged by Maven in the dev.testing/java_maven_project flow and run as
 * {@code java -jar maven-data-processor-1.0.0.jar <input.csv> <output.csv>}. Prints Kestra's
 * {@code ::{"outputs": ...}::} line so the totals become task outputs.
 */
public final class MavenDataProcessor {

    /** One parsed sales line. */
    public record Sale(String orderId, String region, String product, int quantity, double unitPrice) {
        double revenue() {
            return quantity * unitPrice;
        }
    }

    /** Aggregated figures of one region. */
    public record RegionStats(String region, long orders, long units, double revenue) {
        double averageOrderValue() {
            return orders == 0 ? 0 : revenue / orders;
        }
    }

    private MavenDataProcessor() {
    }

    public static List<Sale> parse(List<String> lines) {
        if (lines.isEmpty()) {
            throw new IllegalArgumentException("input is empty: a header line is required");
        }
        List<String> header = Arrays.stream(lines.get(0).split(",")).map(String::trim).toList();
        int orderId = indexOf(header, "order_id");
        int region = indexOf(header, "region");
        int product = indexOf(header, "product");
        int quantity = indexOf(header, "quantity");
        int unitPrice = indexOf(header, "unit_price");
        return lines.stream()
            .skip(1)
            .map(String::trim)
            .filter(line -> !line.isEmpty())
            .map(line -> line.split(","))
            .map(f -> new Sale(f[orderId].trim(), f[region].trim(), f[product].trim(),
                Integer.parseInt(f[quantity].trim()), Double.parseDouble(f[unitPrice].trim())))
            .toList();
    }

    public static List<RegionStats> byRegion(List<Sale> sales) {
        Map<String, List<Sale>> grouped = sales.stream()
            .collect(Collectors.groupingBy(Sale::region, TreeMap::new, Collectors.toList()));
        return grouped.entrySet().stream()
            .map(e -> new RegionStats(
                e.getKey(),
                e.getValue().stream().map(Sale::orderId).distinct().count(),
                e.getValue().stream().mapToLong(Sale::quantity).sum(),
                e.getValue().stream().mapToDouble(Sale::revenue).sum()))
            .sorted(Comparator.comparingDouble(RegionStats::revenue).reversed()
                .thenComparing(RegionStats::region))
            .toList();
    }

    private static int indexOf(List<String> header, String name) {
        int index = header.indexOf(name);
        if (index < 0) {
            throw new IllegalArgumentException("missing column '" + name + "' in header " + header);
        }
        return index;
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: java -jar maven-data-processor.jar <input.csv> <output.csv>");
            System.exit(2);
        }
        List<RegionStats> stats = byRegion(parse(Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8)));

        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(Path.of(args[1]), StandardCharsets.UTF_8))) {
            out.println("region,orders,units,revenue,avg_order_value");
            for (RegionStats s : stats) {
                out.printf(Locale.ROOT, "%s,%d,%d,%.2f,%.2f%n",
                    s.region(), s.orders(), s.units(), s.revenue(), s.averageOrderValue());
            }
        }
        stats.forEach(s -> System.out.printf(Locale.ROOT, "%-8s %4d orders %10.2f%n", s.region(), s.orders(), s.revenue()));
        double total = stats.stream().mapToDouble(RegionStats::revenue).sum();
        System.out.printf(Locale.ROOT, "::{\"outputs\": {\"regions\": %d, \"total_revenue\": %.2f}}::%n",
            stats.size(), total);
    }
}
