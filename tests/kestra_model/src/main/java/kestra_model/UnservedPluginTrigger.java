package kestra_model;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import io.kestra.core.models.triggers.AbstractTrigger;

import java.util.LinkedHashMap;
import java.util.Map;

/** The trigger counterpart of {@link UnservedPluginTask}: validation only, properties unchecked. */
@JsonDeserialize
public class UnservedPluginTrigger extends AbstractTrigger {
    private String maskedType;
    private final Map<String, Object> maskedProperties = new LinkedHashMap<>();

    public UnservedPluginTrigger() {
    }

    public String getMaskedType() {
        return maskedType;
    }

    @JsonAnyGetter
    public Map<String, Object> getMaskedProperties() {
        return maskedProperties;
    }

    @JsonAnySetter
    public void setMaskedProperty(String name, Object value) {
        maskedProperties.put(name, value);
    }
}
